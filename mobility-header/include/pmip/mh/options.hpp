// Mobility options as plain value types [RFC 6275 section 6.2; PROTOCOL.md 1.3, 2.3, 3, 8, 9].
//
// One struct per option, named in the RFC's words. Pad1 and PadN are not
// represented: the parser consumes them and the serializer generates them from
// each option's alignment rule. An option this codec does not know is kept as
// UnknownOption (type + raw data) so that a relay can forward it unchanged.
#pragma once

#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "pmip/mh/types.hpp"

namespace pmip::mh {

// RFC 6275 section 6.2.4, type 2, alignment 2n. Units of 4 s.
struct BindingRefreshAdvice {
    std::uint16_t refresh_interval = 0;
    bool operator==(const BindingRefreshAdvice&) const = default;
};

// RFC 6275 section 6.2.5, type 3, alignment 8n+6.
struct AlternateCareOfAddress {
    Ipv6Address address{};
    bool operator==(const AlternateCareOfAddress&) const = default;
};

// RFC 3963 section 6.2, type 6, alignment 8n+4.
struct MobileNetworkPrefix {
    std::uint8_t prefix_length = 0;
    Ipv6Address prefix{};
    bool operator==(const MobileNetworkPrefix&) const = default;
};

// RFC 4283 section 3 (subtypes RFC 8371), type 8, no alignment.
struct MobileNodeIdentifier {
    std::uint8_t subtype = mn_id_subtype::kNai;
    std::vector<std::uint8_t> identifier;
    bool operator==(const MobileNodeIdentifier&) const = default;
};

// RFC 4285 section 5, type 9, alignment 4n+1. Authentication data is the first
// 96 bits of HMAC-SHA1 for the subtypes RFC 4285 defines (see authentication.hpp).
struct MobilityMessageAuthentication {
    std::uint8_t subtype = 1;  // 1 = MN-HA, 2 = MN-AAA
    std::uint32_t mobility_spi = 0;
    std::vector<std::uint8_t> authentication_data;
    bool operator==(const MobilityMessageAuthentication&) const = default;
};

// RFC 4285 section 6, type 10, alignment 8n+2.
struct MobilityMessageReplayProtection {
    std::uint64_t timestamp = 0;
    bool operator==(const MobilityMessageReplayProtection&) const = default;
};

// RFC 5094 section 3, type 19, alignment 4n+2.
struct VendorSpecific {
    std::uint32_t vendor_id = 0;
    std::uint8_t subtype = 0;
    std::vector<std::uint8_t> data;
    bool operator==(const VendorSpecific&) const = default;
};

// RFC 5213 section 8.3, type 22, alignment 8n+4. An ALL_ZERO prefix in a PBU
// asks the LMA to assign one.
struct HomeNetworkPrefix {
    std::uint8_t prefix_length = 0;
    Ipv6Address prefix{};
    bool operator==(const HomeNetworkPrefix&) const = default;
};

// RFC 5213 section 8.4, type 23.
struct HandoffIndicator {
    std::uint8_t value = 0;
    bool operator==(const HandoffIndicator&) const = default;
};

// RFC 5213 section 8.5, type 24.
struct AccessTechnologyType {
    std::uint8_t value = 0;
    bool operator==(const AccessTechnologyType&) const = default;
};

// RFC 5213 section 8.6, type 25. Alignment "as appropriate for the identifier
// size": we use 4n, which puts the identifier (after two reserved octets) on a
// 4-octet boundary.
struct MobileNodeLinkLayerIdentifier {
    std::vector<std::uint8_t> identifier;
    bool operator==(const MobileNodeLinkLayerIdentifier&) const = default;
};

// RFC 5213 section 8.7, type 26, alignment 8n+6.
struct LinkLocalAddress {
    Ipv6Address address{};
    bool operator==(const LinkLocalAddress&) const = default;
};

// RFC 5213 section 8.8, type 27, alignment 8n+2. Upper 48 bits: seconds since
// 1970-01-01 UTC; lower 16 bits: 1/65536 s. Kept as the raw 64-bit value.
struct Timestamp {
    std::uint64_t value = 0;
    bool operator==(const Timestamp&) const = default;
};

// RFC 5847 section 5.2, type 28, alignment 4n+2.
struct RestartCounter {
    std::uint32_t value = 0;
    bool operator==(const RestartCounter&) const = default;
};

// RFC 5555 section 3.1.1, type 29, alignment 4n.
struct Ipv4HomeAddress {
    std::uint8_t prefix_length = 0;  // 6 bits
    bool request_prefix = false;     // P
    Ipv4Address address{};
    bool operator==(const Ipv4HomeAddress&) const = default;
};

// RFC 5555 section 3.2.1, type 30, alignment 4n.
struct Ipv4AddressAcknowledgement {
    std::uint8_t status = 0;
    std::uint8_t prefix_length = 0;  // 6 bits
    Ipv4Address address{};
    bool operator==(const Ipv4AddressAcknowledgement&) const = default;
};

// RFC 5555 section 3.2.2, type 31, alignment 4n.
struct NatDetection {
    bool udp_encapsulation_required = false;  // F
    std::uint32_t refresh_time = 0;
    bool operator==(const NatDetection&) const = default;
};

// RFC 5555 section 3.1.2, type 32, alignment 4n.
struct Ipv4CareOfAddress {
    Ipv4Address address{};
    bool operator==(const Ipv4CareOfAddress&) const = default;
};

// RFC 5845 section 3.1, type 33, alignment 4n. Length 2 = GRE without key.
struct GreKey {
    std::optional<std::uint32_t> key;
    bool operator==(const GreKey&) const = default;
};

// RFC 5844 section 3.3.1, type 36, alignment 4n.
struct Ipv4HomeAddressRequest {
    std::uint8_t prefix_length = 0;  // 6 bits
    Ipv4Address address{};           // 0.0.0.0 = LMA assigns
    bool operator==(const Ipv4HomeAddressRequest&) const = default;
};

// RFC 5844 section 3.3.2, type 37, alignment 4n.
struct Ipv4HomeAddressReply {
    std::uint8_t status = 0;
    std::uint8_t prefix_length = 0;  // 6 bits
    Ipv4Address address{};
    bool operator==(const Ipv4HomeAddressReply&) const = default;
};

// RFC 5844 section 3.3.3, type 38, alignment 4n.
struct Ipv4DefaultRouterAddress {
    Ipv4Address address{};
    bool operator==(const Ipv4DefaultRouterAddress&) const = default;
};

// RFC 5844 section 3.3.4, type 39.
struct Ipv4DhcpSupportMode {
    bool dhcp_server = false;  // S: 1 = MAG is DHCP server, 0 = relay
    bool operator==(const Ipv4DhcpSupportMode&) const = default;
};

// RFC 6602 section 4.1, type 50. Length 6.
struct MobileNodeGroupIdentifier {
    std::uint8_t subtype = 1;
    std::uint32_t group_identifier = 0;
    bool operator==(const MobileNodeGroupIdentifier&) const = default;
};

// A multicast address record in MLDv2 Report format [RFC 3810 section 5.2.4],
// as carried by RFC 7161 option 57 and the draft-asaeda subscription option.
struct MulticastAddressRecord {
    std::uint8_t record_type = 0;  // 1 IS_IN .. 6 BLOCK
    Ipv6Address multicast_address{};
    std::vector<Ipv6Address> sources;
    std::vector<std::uint8_t> auxiliary_data;  // multiple of 4 octets
    bool operator==(const MulticastAddressRecord&) const = default;
};

// RFC 7161 section 4.2, type 57, alignment 8n+1. mld_type 143: one MLDv2
// record; mld_type 131 (MLDv1): the record holds only the multicast address
// (4 reserved octets + address on the wire).
struct ActiveMulticastSubscriptionIpv6 {
    std::uint8_t mld_type = 143;
    MulticastAddressRecord record;
    bool operator==(const ActiveMulticastSubscriptionIpv6&) const = default;
};

// RFC 7161 section 4.1, type 56, alignment 4n+1. igmp_type 0x22 (IGMPv3): a
// group record; 0x12 / 0x16: just the group address.
struct ActiveMulticastSubscriptionIpv4 {
    std::uint8_t igmp_type = 0x22;
    std::uint8_t record_type = 0;  // IGMPv3 only
    Ipv4Address group{};
    std::vector<Ipv4Address> sources;             // IGMPv3 only
    std::vector<std::uint8_t> auxiliary_data;     // IGMPv3 only
    bool operator==(const ActiveMulticastSubscriptionIpv4&) const = default;
};

// draft-asaeda multicast subscription option (PROTOCOL.md 9.1), type from
// ExtensionCodePoints, alignment 4n: Type, Length, Reserved(16), then MLDv2
// multicast address records back to back.
struct MulticastSubscription {
    std::vector<MulticastAddressRecord> records;
    bool operator==(const MulticastSubscription&) const = default;
};

// RFC 8885 section 4.1, type 67, alignment 8n+4.
struct PreviousMaar {
    std::uint8_t prefix_length = 0;
    Ipv6Address previous_maar{};
    Ipv6Address home_network_prefix{};
    bool operator==(const PreviousMaar&) const = default;
};

// RFC 8885 section 4.2, type 68, alignment 8n+6.
struct ServingMaar {
    Ipv6Address serving_maar{};
    bool operator==(const ServingMaar&) const = default;
};

// RFC 8885 section 4.3, type 65, and section 4.4, type 66, alignment 8n+4,
// laid out as the HNP option: Type, Length (18), Reserved, Prefix Length,
// prefix. Only in PBUs / PBAs with the D flag.
struct AnchoredPrefix {  // the MN's prefix anchored at the anchoring MAAR
    std::uint8_t prefix_length = 0;
    Ipv6Address prefix{};
    bool operator==(const AnchoredPrefix&) const = default;
};
struct LocalPrefix {  // the prefix the serving MAAR anchors for the MN
    std::uint8_t prefix_length = 0;
    Ipv6Address prefix{};
    bool operator==(const LocalPrefix&) const = default;
};

// RFC 8885 section 4.7, type 69, alignment 8n+6: the link-local address of
// the DLIF an anchoring MAAR exposed to the MN.
struct DlifLinkLocalAddress {
    Ipv6Address address{};
    bool operator==(const DlifLinkLocalAddress&) const = default;
};

// RFC 8885 section 4.8, type 70, laid out as the MN-LL-ID option
// (Reserved(16), then the address): the DLIF's link-layer address.
struct DlifLinkLayerAddress {
    std::vector<std::uint8_t> address;
    bool operator==(const DlifLinkLayerAddress&) const = default;
};

// Any option type not listed above; data excludes Type and Length.
struct UnknownOption {
    std::uint8_t type = 0;
    std::vector<std::uint8_t> data;
    bool operator==(const UnknownOption&) const = default;
};

using Option = std::variant<BindingRefreshAdvice, AlternateCareOfAddress, MobileNetworkPrefix,
                            MobileNodeIdentifier, MobilityMessageAuthentication,
                            MobilityMessageReplayProtection, VendorSpecific, HomeNetworkPrefix,
                            HandoffIndicator, AccessTechnologyType, MobileNodeLinkLayerIdentifier,
                            LinkLocalAddress, Timestamp, RestartCounter, Ipv4HomeAddress,
                            Ipv4AddressAcknowledgement, NatDetection, Ipv4CareOfAddress, GreKey,
                            Ipv4HomeAddressRequest, Ipv4HomeAddressReply, Ipv4DefaultRouterAddress,
                            Ipv4DhcpSupportMode, MobileNodeGroupIdentifier,
                            ActiveMulticastSubscriptionIpv4, ActiveMulticastSubscriptionIpv6,
                            MulticastSubscription, PreviousMaar, ServingMaar, AnchoredPrefix,
                            LocalPrefix, DlifLinkLocalAddress, DlifLinkLayerAddress, UnknownOption>;

using Options = std::vector<Option>;

// Wire type of an option (the configured type for MulticastSubscription).
std::uint8_t option_type_of(const Option& option, const ExtensionCodePoints& code_points = {});

// Short stable name of an option for logs and JSON ("home_network_prefix", ...).
std::string_view option_name(const Option& option);
// Name of an option type the codec parses as a registered option (Pad1 and
// PadN included), or "" (the draft-asaeda type is configured, not listed).
std::string_view option_type_name(std::uint8_t type);

// The first option of type T in a list, or nullptr.
template <typename T>
const T* find_option(const Options& options) {
    for (const auto& o : options) {
        if (const T* p = std::get_if<T>(&o)) return p;
    }
    return nullptr;
}

// Every option of type T in a list, in order.
template <typename T>
std::vector<T> options_of_type(const Options& options) {
    std::vector<T> out;
    for (const auto& o : options) {
        if (const T* p = std::get_if<T>(&o)) out.push_back(*p);
    }
    return out;
}

template <typename T>
std::size_t count_options(const Options& options) {
    std::size_t n = 0;
    for (const auto& o : options) n += std::holds_alternative<T>(o) ? 1 : 0;
    return n;
}

// RFC 7161 contexts must fit the message that carries them (an option of at
// most 255 octets, a Mobility Header of at most 2048): the octets option 57
// takes on the wire, padding to its 8n+1 alignment included (worst case), or
// nullopt when it cannot be encoded (over 255 octets: more than 14 sources).
std::optional<std::size_t> subscription_option_octets(const ActiveMulticastSubscriptionIpv6& option);
// Keeps, in order, the subscriptions that encode and fit in `budget` octets;
// returns how many were left out (the MN's own reports restore those).
std::size_t fit_subscriptions(std::vector<ActiveMulticastSubscriptionIpv6>& subscriptions,
                              std::size_t budget);
// The octets RFC 7161 options may take in a PBU, PBA or Subscription
// Response: 2048 less room for every other option those carry.
inline constexpr std::size_t kSubscriptionBudget = 1536;

// draft-asaeda multicast subscription options carrying `records`, each
// option at most 255 octets long, all together at most `budget` octets of
// records. An INCLUDE record (types 1, 3, 5) with more sources than one
// option holds is split into records of the same type and group (their
// union is the same state); any other record that does not fit one
// option, and pieces beyond the budget, are left out; `left_out` counts the
// records not carried whole (a split record may be carried in part).
std::vector<MulticastSubscription> pack_multicast_subscription(
    const std::vector<MulticastAddressRecord>& records, std::size_t budget, std::size_t* left_out);

}  // namespace pmip::mh
