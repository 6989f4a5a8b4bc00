// IPv6 address and prefix helpers.
#include "pmip/common/ip.hpp"
#include "pmip/common/result.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>

namespace pmip {

std::string to_string(const Ipv6Address& address) {
    char buf[INET6_ADDRSTRLEN];
    ::inet_ntop(AF_INET6, address.data(), buf, sizeof buf);
    return buf;
}

std::string to_string(const Ipv6Prefix& prefix) {
    return to_string(prefix.address) + "/" + std::to_string(prefix.length);
}

std::optional<Ipv6Address> parse_address(std::string_view text) {
    if (text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
    const std::string s(text);
    Ipv6Address a{};
    if (::inet_pton(AF_INET6, s.c_str(), a.data()) != 1) return std::nullopt;
    return a;
}

std::optional<Ipv6Prefix> parse_prefix(std::string_view text) {
    const auto slash = text.find('/');
    const auto address = parse_address(text.substr(0, slash));
    if (!address) return std::nullopt;
    unsigned length = 128;
    if (slash != std::string_view::npos) {
        const auto digits = text.substr(slash + 1);
        const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), length);
        if (ec != std::errc{} || end != digits.data() + digits.size() || digits.empty() ||
            length > 128) {
            return std::nullopt;
        }
    }
    return Ipv6Prefix{*address, static_cast<std::uint8_t>(length)};
}

Ipv6Prefix canonical(const Ipv6Prefix& prefix) {
    Ipv6Prefix p = prefix;
    for (unsigned i = 0; i < 16; ++i) {
        const unsigned bits_before = i * 8;
        if (bits_before >= p.length) {
            p.address[i] = 0;
        } else if (p.length - bits_before < 8) {
            p.address[i] &= static_cast<std::uint8_t>(0xff << (8 - (p.length - bits_before)));
        }
    }
    return p;
}

bool contains(const Ipv6Prefix& prefix, const Ipv6Address& address) {
    return canonical(prefix) == canonical(Ipv6Prefix{address, prefix.length});
}

bool is_link_local(const Ipv6Address& a) { return a[0] == 0xfe && (a[1] & 0xc0) == 0x80; }

bool is_multicast(const Ipv6Address& a) { return a[0] == 0xff; }

bool is_unspecified(const Ipv6Address& a) {
    return std::all_of(a.begin(), a.end(), [](std::uint8_t o) { return o == 0; });
}

}  // namespace pmip

#include <cstring>

namespace pmip {

Error Error::from_errno(std::string context, int errno_value) {
    return Error{errno_value, std::move(context) + ": " + std::strerror(errno_value)};
}

}  // namespace pmip
