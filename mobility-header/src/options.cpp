// Option type numbers and names.
#include "pmip/mh/options.hpp"

#include <algorithm>

namespace pmip::mh {

namespace {
template <class... Ts>
struct Overloaded : Ts... {
    using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;
}  // namespace

std::uint8_t option_type_of(const Option& option, const ExtensionCodePoints& code_points) {
    using namespace option_type;
    return std::visit(
        Overloaded{
            [](const BindingRefreshAdvice&) { return kBindingRefreshAdvice; },
            [](const AlternateCareOfAddress&) { return kAlternateCareOfAddress; },
            [](const MobileNetworkPrefix&) { return kMobileNetworkPrefix; },
            [](const MobileNodeIdentifier&) { return kMobileNodeIdentifier; },
            [](const MobilityMessageAuthentication&) { return kMobilityMessageAuthentication; },
            [](const MobilityMessageReplayProtection&) {
                return kMobilityMessageReplayProtection;
            },
            [](const VendorSpecific&) { return kVendorSpecific; },
            [](const HomeNetworkPrefix&) { return kHomeNetworkPrefix; },
            [](const HandoffIndicator&) { return kHandoffIndicator; },
            [](const AccessTechnologyType&) { return kAccessTechnologyType; },
            [](const MobileNodeLinkLayerIdentifier&) { return kMobileNodeLinkLayerIdentifier; },
            [](const LinkLocalAddress&) { return kLinkLocalAddress; },
            [](const Timestamp&) { return kTimestamp; },
            [](const RestartCounter&) { return kRestartCounter; },
            [](const Ipv4HomeAddress&) { return kIpv4HomeAddress; },
            [](const Ipv4AddressAcknowledgement&) { return kIpv4AddressAcknowledgement; },
            [](const NatDetection&) { return kNatDetection; },
            [](const Ipv4CareOfAddress&) { return kIpv4CareOfAddress; },
            [](const GreKey&) { return kGreKey; },
            [](const Ipv4HomeAddressRequest&) { return kIpv4HomeAddressRequest; },
            [](const Ipv4HomeAddressReply&) { return kIpv4HomeAddressReply; },
            [](const Ipv4DefaultRouterAddress&) { return kIpv4DefaultRouterAddress; },
            [](const Ipv4DhcpSupportMode&) { return kIpv4DhcpSupportMode; },
            [](const MobileNodeGroupIdentifier&) { return kMobileNodeGroupIdentifier; },
            [](const ActiveMulticastSubscriptionIpv4&) {
                return kActiveMulticastSubscriptionIpv4;
            },
            [](const ActiveMulticastSubscriptionIpv6&) {
                return kActiveMulticastSubscriptionIpv6;
            },
            [&](const MulticastSubscription&) {
                return code_points.multicast_subscription_option_type;
            },
            [](const PreviousMaar&) { return kPreviousMaar; },
            [](const ServingMaar&) { return kServingMaar; },
            [](const AnchoredPrefix&) { return kAnchoredPrefix; },
            [](const LocalPrefix&) { return kLocalPrefix; },
            [](const DlifLinkLocalAddress&) { return kDlifLinkLocalAddress; },
            [](const DlifLinkLayerAddress&) { return kDlifLinkLayerAddress; },
            [](const UnknownOption& o) { return o.type; },
        },
        option);
}

std::string_view option_name(const Option& option) {
    return std::visit(
        Overloaded{
            [](const BindingRefreshAdvice&) { return "binding_refresh_advice"; },
            [](const AlternateCareOfAddress&) { return "alternate_care_of_address"; },
            [](const MobileNetworkPrefix&) { return "mobile_network_prefix"; },
            [](const MobileNodeIdentifier&) { return "mn_identifier"; },
            [](const MobilityMessageAuthentication&) {
                return "mobility_message_authentication";
            },
            [](const MobilityMessageReplayProtection&) {
                return "mobility_message_replay_protection";
            },
            [](const VendorSpecific&) { return "vendor_specific"; },
            [](const HomeNetworkPrefix&) { return "home_network_prefix"; },
            [](const HandoffIndicator&) { return "handoff_indicator"; },
            [](const AccessTechnologyType&) { return "access_technology_type"; },
            [](const MobileNodeLinkLayerIdentifier&) { return "mn_link_layer_identifier"; },
            [](const LinkLocalAddress&) { return "link_local_address"; },
            [](const Timestamp&) { return "timestamp"; },
            [](const RestartCounter&) { return "restart_counter"; },
            [](const Ipv4HomeAddress&) { return "ipv4_home_address"; },
            [](const Ipv4AddressAcknowledgement&) { return "ipv4_address_acknowledgement"; },
            [](const NatDetection&) { return "nat_detection"; },
            [](const Ipv4CareOfAddress&) { return "ipv4_care_of_address"; },
            [](const GreKey&) { return "gre_key"; },
            [](const Ipv4HomeAddressRequest&) { return "ipv4_home_address_request"; },
            [](const Ipv4HomeAddressReply&) { return "ipv4_home_address_reply"; },
            [](const Ipv4DefaultRouterAddress&) { return "ipv4_default_router_address"; },
            [](const Ipv4DhcpSupportMode&) { return "ipv4_dhcp_support_mode"; },
            [](const MobileNodeGroupIdentifier&) { return "mn_group_identifier"; },
            [](const ActiveMulticastSubscriptionIpv4&) {
                return "active_multicast_subscription_ipv4";
            },
            [](const ActiveMulticastSubscriptionIpv6&) {
                return "active_multicast_subscription_ipv6";
            },
            [](const MulticastSubscription&) { return "multicast_subscription"; },
            [](const PreviousMaar&) { return "previous_maar"; },
            [](const ServingMaar&) { return "serving_maar"; },
            [](const AnchoredPrefix&) { return "anchored_prefix"; },
            [](const LocalPrefix&) { return "local_prefix"; },
            [](const DlifLinkLocalAddress&) { return "dlif_link_local_address"; },
            [](const DlifLinkLayerAddress&) { return "dlif_link_layer_address"; },
            [](const UnknownOption&) { return "unknown"; },
        },
        option);
}

std::string_view option_type_name(std::uint8_t type) {
    using namespace option_type;
    switch (type) {
        case kPad1: return "pad1";
        case kPadN: return "padn";
        case kBindingRefreshAdvice: return "binding_refresh_advice";
        case kAlternateCareOfAddress: return "alternate_care_of_address";
        case kMobileNetworkPrefix: return "mobile_network_prefix";
        case kMobileNodeIdentifier: return "mn_identifier";
        case kMobilityMessageAuthentication: return "mobility_message_authentication";
        case kMobilityMessageReplayProtection: return "mobility_message_replay_protection";
        case kVendorSpecific: return "vendor_specific";
        case kHomeNetworkPrefix: return "home_network_prefix";
        case kHandoffIndicator: return "handoff_indicator";
        case kAccessTechnologyType: return "access_technology_type";
        case kMobileNodeLinkLayerIdentifier: return "mn_link_layer_identifier";
        case kLinkLocalAddress: return "link_local_address";
        case kTimestamp: return "timestamp";
        case kRestartCounter: return "restart_counter";
        case kIpv4HomeAddress: return "ipv4_home_address";
        case kIpv4AddressAcknowledgement: return "ipv4_address_acknowledgement";
        case kNatDetection: return "nat_detection";
        case kIpv4CareOfAddress: return "ipv4_care_of_address";
        case kGreKey: return "gre_key";
        case kIpv4HomeAddressRequest: return "ipv4_home_address_request";
        case kIpv4HomeAddressReply: return "ipv4_home_address_reply";
        case kIpv4DefaultRouterAddress: return "ipv4_default_router_address";
        case kIpv4DhcpSupportMode: return "ipv4_dhcp_support_mode";
        case kMobileNodeGroupIdentifier: return "mn_group_identifier";
        case kActiveMulticastSubscriptionIpv4: return "active_multicast_subscription_ipv4";
        case kActiveMulticastSubscriptionIpv6: return "active_multicast_subscription_ipv6";
        case kPreviousMaar: return "previous_maar";
        case kServingMaar: return "serving_maar";
        case kAnchoredPrefix: return "anchored_prefix";
        case kLocalPrefix: return "local_prefix";
        case kDlifLinkLocalAddress: return "dlif_link_local_address";
        case kDlifLinkLayerAddress: return "dlif_link_layer_address";
        default: return "";
    }
}

std::optional<std::size_t> subscription_option_octets(const ActiveMulticastSubscriptionIpv6& o) {
    std::size_t body = 0;
    if (o.mld_type == 143) {
        body = 1 + 20 + 16 * o.record.sources.size() + o.record.auxiliary_data.size();
    } else if (o.mld_type == 131) {
        body = 21;
    } else {
        return std::nullopt;
    }
    if (body > 255) return std::nullopt;
    return 2 + body + 7;  // Type, Length, body; up to 7 octets of padding before it
}

std::size_t fit_subscriptions(std::vector<ActiveMulticastSubscriptionIpv6>& subscriptions,
                              std::size_t budget) {
    std::size_t used = 0, dropped = 0;
    std::erase_if(subscriptions, [&](const ActiveMulticastSubscriptionIpv6& s) {
        const auto octets = subscription_option_octets(s);
        if (!octets || used + *octets > budget) {
            ++dropped;
            return true;
        }
        used += *octets;
        return false;
    });
    return dropped;
}

std::vector<MulticastSubscription> pack_multicast_subscription(
    const std::vector<MulticastAddressRecord>& records, std::size_t budget, std::size_t* left_out) {
    constexpr std::size_t kOptionRoom = 255 - 2;  // Length is 8 bits; 2 reserved octets
    constexpr std::size_t kRecordHeader = 4 + 16;
    auto size_of = [](const MulticastAddressRecord& r) {
        return kRecordHeader + 16 * r.sources.size() + r.auxiliary_data.size();
    };
    std::vector<std::pair<MulticastAddressRecord, std::size_t>> pieces;  // (piece, its record)
    for (std::size_t k = 0; k < records.size(); ++k) {
        const auto& r = records[k];
        const bool include = r.record_type == 1 || r.record_type == 3 || r.record_type == 5;
        if (size_of(r) <= kOptionRoom || !include || !r.auxiliary_data.empty()) {
            pieces.emplace_back(r, k);
            continue;
        }
        const std::size_t per = (kOptionRoom - kRecordHeader) / 16;
        for (std::size_t i = 0; i < r.sources.size(); i += per) {
            MulticastAddressRecord part{r.record_type, r.multicast_address, {}, {}};
            const auto end = std::min(r.sources.size(), i + per);
            part.sources.assign(r.sources.begin() + static_cast<std::ptrdiff_t>(i),
                                r.sources.begin() + static_cast<std::ptrdiff_t>(end));
            pieces.emplace_back(std::move(part), k);
        }
    }
    std::vector<MulticastSubscription> out;
    std::vector<bool> not_whole(records.size(), false);
    std::size_t used = 0, room = 0;
    for (auto& [r, origin] : pieces) {
        const std::size_t n = size_of(r);
        if (n > kOptionRoom || used + n > budget) {
            not_whole[origin] = true;
            continue;
        }
        if (out.empty() || n > room) {
            out.emplace_back();
            room = kOptionRoom;
        }
        out.back().records.push_back(std::move(r));
        room -= n;
        used += n;
    }
    if (left_out) *left_out = static_cast<std::size_t>(std::count(not_whole.begin(), not_whole.end(), true));
    return out;
}

}  // namespace pmip::mh
