// Mobility Message Authentication option [RFC 4285 section 5], HMAC-SHA1-96
// through OpenSSL.
#include "pmip/mh/authentication.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <optional>
#include <vector>

namespace pmip::mh {

namespace {

// Offset of the Type octet of the first authentication option, walking the
// options of a well-formed message. Options start after the fixed part, which
// we find from the MH type; on anything malformed, nullopt.
std::optional<std::size_t> find_authentication_option(std::span<const std::uint8_t> mh) {
    if (mh.size() < 8) return std::nullopt;
    const std::size_t total = (static_cast<std::size_t>(mh[1]) + 1) * 8;
    if (total > mh.size()) return std::nullopt;
    std::size_t pos = 0;
    switch (mh[2]) {
        case 5: case 6: case 13: case 16: case 19: case 20: pos = 12; break;
        case 7: pos = 24; break;
        default: return std::nullopt;
    }
    while (pos < total) {
        const std::uint8_t type = mh[pos];
        if (type == 0) {
            ++pos;
            continue;
        }
        if (total - pos < 2 || total - pos - 2 < mh[pos + 1]) return std::nullopt;
        if (type == 9) return pos;
        pos += 2 + mh[pos + 1];
    }
    return std::nullopt;
}

bool compute(std::span<const std::uint8_t> mh, std::size_t option, std::span<const std::uint8_t> key,
             const Ipv6Address& coa, const Ipv6Address& hoa, std::uint8_t (&out)[EVP_MAX_MD_SIZE]) {
    // Mobility Data = care-of address | home address | MH up to and including
    // the Mobility SPI, checksum as zero [RFC 4285 section 5.1].
    const std::size_t covered = option + 7;  // Type, Length, Subtype, SPI(4)
    std::vector<std::uint8_t> data;
    data.reserve(32 + covered);
    data.insert(data.end(), coa.begin(), coa.end());
    data.insert(data.end(), hoa.begin(), hoa.end());
    data.insert(data.end(), mh.begin(), mh.begin() + static_cast<std::ptrdiff_t>(covered));
    data[32 + 4] = 0;
    data[32 + 5] = 0;
    unsigned int len = 0;
    return HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()), data.data(), data.size(),
                out, &len) != nullptr &&
           len >= kAuthenticationDataLength;
}

}  // namespace

bool sign_authentication_option(std::span<std::uint8_t> mh, std::span<const std::uint8_t> key,
                                const Ipv6Address& care_of_address,
                                const Ipv6Address& home_address) {
    const auto option = find_authentication_option(mh);
    if (!option || mh[*option + 1] != 5 + kAuthenticationDataLength) return false;
    std::uint8_t mac[EVP_MAX_MD_SIZE];
    if (!compute(mh, *option, key, care_of_address, home_address, mac)) return false;
    std::copy(mac, mac + kAuthenticationDataLength, mh.begin() + static_cast<std::ptrdiff_t>(*option + 7));
    return true;
}

bool verify_authentication_option(std::span<const std::uint8_t> mh,
                                  std::span<const std::uint8_t> key,
                                  const Ipv6Address& care_of_address,
                                  const Ipv6Address& home_address) {
    const auto option = find_authentication_option(mh);
    if (!option || mh[*option + 1] != 5 + kAuthenticationDataLength) return false;
    std::uint8_t mac[EVP_MAX_MD_SIZE];
    if (!compute(mh, *option, key, care_of_address, home_address, mac)) return false;
    return CRYPTO_memcmp(mac, mh.data() + *option + 7, kAuthenticationDataLength) == 0;
}

}  // namespace pmip::mh
