// Mobility Message Authentication option processing [RFC 4285 section 5].
//
// Authentication Data = HMAC(key, care-of address | home address | MH data),
// where MH data is the Mobility Header from its first octet up to and
// including the Mobility SPI of the authentication option, with the checksum
// field taken as 0 [RFC 4285 section 5.1]. Two algorithms:
//   kHmacSha1_96  first 96 bits of HMAC-SHA1, as RFC 4285 defines it (12 octets)
//   kHmacSha256   HMAC-SHA256, all 256 bits (32 octets); what magd and lmad use
//                 by default between MAG and LMA
// For MAG <-> LMA signalling the two addresses are the message's IPv6 source
// and destination (so a message cannot be replayed towards another peer);
// a caller with another convention passes its own. HMAC comes from OpenSSL.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "pmip/mh/types.hpp"

namespace pmip::mh {

enum class AuthAlgorithm : std::uint8_t { kHmacSha1_96, kHmacSha256 };

inline constexpr std::size_t kAuthenticationDataLength = 12;  // 96 bits (HMAC-SHA1-96)

// Octets of authentication data the algorithm produces (12 or 32).
std::size_t authentication_data_length(AuthAlgorithm algorithm);
std::string_view to_string(AuthAlgorithm algorithm);  // "hmac-sha1-96", "hmac-sha256"
std::optional<AuthAlgorithm> parse_auth_algorithm(std::string_view text);

// Offset of the Type octet of the first Mobility Message Authentication
// option of the serialized `mh`, walking its options; nullopt when there is
// none or the message is malformed.
std::optional<std::size_t> find_authentication_option(std::span<const std::uint8_t> mh);

// The authentication data for the option at `option` (from
// find_authentication_option) of `mh`; nullopt if HMAC fails.
std::optional<std::vector<std::uint8_t>> compute_authentication_data(
    std::span<const std::uint8_t> mh, std::size_t option, AuthAlgorithm algorithm,
    std::span<const std::uint8_t> key, const Ipv6Address& care_of_address,
    const Ipv6Address& home_address);

// Fills the authentication data of the Mobility Message Authentication option
// found in the serialized `mh` (which must carry one whose data has the
// algorithm's length). Returns false when no such option is found.
bool sign_authentication_option(std::span<std::uint8_t> mh, std::span<const std::uint8_t> key,
                                const Ipv6Address& care_of_address,
                                const Ipv6Address& home_address,
                                AuthAlgorithm algorithm = AuthAlgorithm::kHmacSha1_96);

// True when `mh` carries a Mobility Message Authentication option whose data
// has the algorithm's length and matches the HMAC computed with `key`
// (constant-time compare).
bool verify_authentication_option(std::span<const std::uint8_t> mh,
                                  std::span<const std::uint8_t> key,
                                  const Ipv6Address& care_of_address,
                                  const Ipv6Address& home_address,
                                  AuthAlgorithm algorithm = AuthAlgorithm::kHmacSha1_96);

}  // namespace pmip::mh
