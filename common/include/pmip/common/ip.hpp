// IPv6 address and prefix values shared by the kernel adapters.
//
// Ipv6Address is std::array<uint8_t, 16>, the same type the Mobility Header
// codec uses, so values pass between layers without conversion.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pmip {

using Ipv6Address = std::array<std::uint8_t, 16>;

struct Ipv6Prefix {
    Ipv6Address address{};
    std::uint8_t length = 128;
    auto operator<=>(const Ipv6Prefix&) const = default;
};

std::string to_string(const Ipv6Address& address);
std::string to_string(const Ipv6Prefix& prefix);  // "2001:db8:1::/64"
std::optional<Ipv6Address> parse_address(std::string_view text);
std::optional<Ipv6Prefix> parse_prefix(std::string_view text);  // "2001:db8::/32"; no "/" = /128

// The prefix with every bit past `length` cleared.
Ipv6Prefix canonical(const Ipv6Prefix& prefix);
bool contains(const Ipv6Prefix& prefix, const Ipv6Address& address);
bool is_link_local(const Ipv6Address& address);  // fe80::/10
bool is_unspecified(const Ipv6Address& address); // ::
bool is_multicast(const Ipv6Address& address);   // ff00::/8

}  // namespace pmip
