// Mobility Message Authentication option [RFC 4285 section 5]: HMAC-SHA1-96
// and HMAC-SHA256 through OpenSSL.
#include "pmip/mh/authentication.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace pmip::mh {

std::size_t authentication_data_length(AuthAlgorithm algorithm) {
    return algorithm == AuthAlgorithm::kHmacSha256 ? 32 : kAuthenticationDataLength;
}

std::string_view to_string(AuthAlgorithm algorithm) {
    return algorithm == AuthAlgorithm::kHmacSha256 ? "hmac-sha256" : "hmac-sha1-96";
}

std::optional<AuthAlgorithm> parse_auth_algorithm(std::string_view text) {
    if (text == "hmac-sha256") return AuthAlgorithm::kHmacSha256;
    if (text == "hmac-sha1-96") return AuthAlgorithm::kHmacSha1_96;
    return std::nullopt;
}

// Options start after the fixed part, which we find from the MH type.
std::optional<std::size_t> find_authentication_option(std::span<const std::uint8_t> mh) {
    if (mh.size() < 8) return std::nullopt;
    const std::size_t total = (static_cast<std::size_t>(mh[1]) + 1) * 8;
    if (total > mh.size()) return std::nullopt;
    std::size_t pos = 0;
    switch (mh[2]) {
        case 5: case 6: case 13: case 16: case 19: case 20: pos = 12; break;  // BU BA HB BRI/BRA UPN UPA
        case 22: case 23: pos = 8; break;                                    // RFC 7161 query / response
        case 7: pos = 24; break;                                             // BE
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

std::optional<std::vector<std::uint8_t>> compute_authentication_data(
    std::span<const std::uint8_t> mh, std::size_t option, AuthAlgorithm algorithm,
    std::span<const std::uint8_t> key, const Ipv6Address& coa, const Ipv6Address& hoa) {
    // Mobility Data = care-of address | home address | MH up to and including
    // the Mobility SPI, checksum as zero [RFC 4285 section 5.1].
    const std::size_t covered = option + 7;  // Type, Length, Subtype, SPI(4)
    if (covered > mh.size()) return std::nullopt;
    std::vector<std::uint8_t> data;
    data.reserve(32 + covered);
    data.insert(data.end(), coa.begin(), coa.end());
    data.insert(data.end(), hoa.begin(), hoa.end());
    data.insert(data.end(), mh.begin(), mh.begin() + static_cast<std::ptrdiff_t>(covered));
    data[32 + 4] = 0;
    data[32 + 5] = 0;
    std::uint8_t out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    const EVP_MD* md = algorithm == AuthAlgorithm::kHmacSha256 ? EVP_sha256() : EVP_sha1();
    const std::size_t want = authentication_data_length(algorithm);
    if (HMAC(md, key.data(), static_cast<int>(key.size()), data.data(), data.size(), out, &len) ==
            nullptr ||
        len < want) {
        return std::nullopt;
    }
    return std::vector<std::uint8_t>(out, out + want);
}

bool sign_authentication_option(std::span<std::uint8_t> mh, std::span<const std::uint8_t> key,
                                const Ipv6Address& care_of_address,
                                const Ipv6Address& home_address, AuthAlgorithm algorithm) {
    const auto option = find_authentication_option(mh);
    const std::size_t length = authentication_data_length(algorithm);
    if (!option || mh[*option + 1] != 5 + length) return false;
    const auto mac =
        compute_authentication_data(mh, *option, algorithm, key, care_of_address, home_address);
    if (!mac) return false;
    std::copy(mac->begin(), mac->end(), mh.begin() + static_cast<std::ptrdiff_t>(*option + 7));
    return true;
}

bool verify_authentication_option(std::span<const std::uint8_t> mh,
                                  std::span<const std::uint8_t> key,
                                  const Ipv6Address& care_of_address,
                                  const Ipv6Address& home_address, AuthAlgorithm algorithm) {
    const auto option = find_authentication_option(mh);
    const std::size_t length = authentication_data_length(algorithm);
    if (!option || mh[*option + 1] != 5 + length) return false;
    const auto mac =
        compute_authentication_data(mh, *option, algorithm, key, care_of_address, home_address);
    return mac && CRYPTO_memcmp(mac->data(), mh.data() + *option + 7, length) == 0;
}

}  // namespace pmip::mh
