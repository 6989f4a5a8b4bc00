// Option type numbers and names.
#include "pmip/mh/options.hpp"

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
            [](const UnknownOption&) { return "unknown"; },
        },
        option);
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

}  // namespace pmip::mh
