// Mobility Message Authentication option processing [RFC 4285 section 5].
//
// Authentication Data = First(96, HMAC_SHA1(key, care-of address | home address
// | MH data)), where MH data is the Mobility Header from its first octet up to
// and including the Mobility SPI of the authentication option, with the
// checksum field taken as 0. For PMIPv6 the care-of address is the Proxy-CoA;
// a PBU has no home address, and callers pass :: (or their domain's
// convention). HMAC comes from OpenSSL.
#pragma once

#include <cstdint>
#include <span>

#include "pmip/mh/types.hpp"

namespace pmip::mh {

inline constexpr std::size_t kAuthenticationDataLength = 12;  // 96 bits

// Fills the authentication data of the Mobility Message Authentication option
// found in the serialized `mh` (which must carry one, with 12 octets of data).
// Returns false when no such option is found.
bool sign_authentication_option(std::span<std::uint8_t> mh, std::span<const std::uint8_t> key,
                                const Ipv6Address& care_of_address,
                                const Ipv6Address& home_address);

// True when `mh` carries a Mobility Message Authentication option whose data
// matches the HMAC computed with `key` (constant-time compare).
bool verify_authentication_option(std::span<const std::uint8_t> mh,
                                  std::span<const std::uint8_t> key,
                                  const Ipv6Address& care_of_address,
                                  const Ipv6Address& home_address);

}  // namespace pmip::mh
