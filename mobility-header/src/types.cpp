// Textual forms of addresses and names of status codes.
#include "pmip/mh/types.hpp"

#include <arpa/inet.h>

namespace pmip::mh {

std::string to_string(const Ipv6Address& address) {
    char buf[INET6_ADDRSTRLEN];
    ::inet_ntop(AF_INET6, address.data(), buf, sizeof buf);
    return buf;
}

std::string to_string(const Ipv4Address& address) {
    char buf[INET_ADDRSTRLEN];
    ::inet_ntop(AF_INET, address.data(), buf, sizeof buf);
    return buf;
}

std::optional<Ipv6Address> parse_ipv6_address(std::string_view text) {
    if (text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
    std::string s(text);
    Ipv6Address a{};
    if (::inet_pton(AF_INET6, s.c_str(), a.data()) != 1) return std::nullopt;
    return a;
}

std::optional<Ipv4Address> parse_ipv4_address(std::string_view text) {
    if (text.size() >= INET_ADDRSTRLEN) return std::nullopt;
    std::string s(text);
    Ipv4Address a{};
    if (::inet_pton(AF_INET, s.c_str(), a.data()) != 1) return std::nullopt;
    return a;
}

std::string_view status_name(std::uint8_t status) {
    switch (status) {
        case 0: return "ACCEPTED";
        case 1: return "ACCEPTED_PREFIX_DISCOVERY_NECESSARY";
        case 2: return "GRE_KEY_OPTION_NOT_REQUIRED";
        case 3: return "GRE_TUNNELING_BUT_TLV_HEADER_NOT_SUPPORTED";
        case 128: return "REASON_UNSPECIFIED";
        case 129: return "ADMINISTRATIVELY_PROHIBITED";
        case 130: return "INSUFFICIENT_RESOURCES";
        case 131: return "HOME_REGISTRATION_NOT_SUPPORTED";
        case 132: return "NOT_HOME_SUBNET";
        case 133: return "NOT_HOME_AGENT_FOR_THIS_MOBILE_NODE";
        case 134: return "DUPLICATE_ADDRESS_DETECTION_FAILED";
        case 135: return "SEQUENCE_NUMBER_OUT_OF_WINDOW";
        case 136: return "EXPIRED_HOME_NONCE_INDEX";
        case 137: return "EXPIRED_CARE_OF_NONCE_INDEX";
        case 138: return "EXPIRED_NONCES";
        case 139: return "REGISTRATION_TYPE_CHANGE_DISALLOWED";
        case 144: return "MIPV6_ID_MISMATCH";
        case 145: return "MIPV6_MESG_ID_REQD";
        case 146: return "MIPV6_AUTH_FAIL";
        case 151: return "SERVICE_AUTHORIZATION_FAILED";
        case 152: return "PROXY_REG_NOT_ENABLED";
        case 153: return "NOT_LMA_FOR_THIS_MOBILE_NODE";
        case 154: return "MAG_NOT_AUTHORIZED_FOR_PROXY_REG";
        case 155: return "NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX";
        case 156: return "TIMESTAMP_MISMATCH";
        case 157: return "TIMESTAMP_LOWER_THAN_PREV_ACCEPTED";
        case 158: return "MISSING_HOME_NETWORK_PREFIX_OPTION";
        case 159: return "BCE_PBU_PREFIX_SET_DO_NOT_MATCH";
        case 160: return "MISSING_MN_IDENTIFIER_OPTION";
        case 161: return "MISSING_HANDOFF_INDICATOR_OPTION";
        case 162: return "MISSING_ACCESS_TECH_TYPE_OPTION";
        case 163: return "GRE_KEY_OPTION_REQUIRED";
        case 170: return "NOT_AUTHORIZED_FOR_IPV4_MOBILITY_SERVICE";
        case 171: return "NOT_AUTHORIZED_FOR_IPV4_HOME_ADDRESS";
        case 172: return "NOT_AUTHORIZED_FOR_IPV6_MOBILITY_SERVICE";
        case 173: return "MULTIPLE_IPV4_HOME_ADDRESS_ASSIGNMENT_NOT_SUPPORTED";
        case 174: return "INVALID_CARE_OF_ADDRESS";
        case 175: return "INVALID_MOBILE_NODE_GROUP_IDENTIFIER";
        default: return "";
    }
}

}  // namespace pmip::mh
