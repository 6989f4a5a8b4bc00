// Mobility Header checksum over the IPv6 pseudo-header [RFC 6275 section 6.1.1;
// pseudo-header of RFC 8200 section 8.1 with Next Header 135].
#include "pmip/mh/codec.hpp"

namespace pmip::mh {

namespace {

std::uint32_t add_words(std::uint32_t sum, std::span<const std::uint8_t> data) {
    std::size_t i = 0;
    for (; i + 1 < data.size(); i += 2) sum += static_cast<std::uint32_t>(data[i] << 8 | data[i + 1]);
    if (i < data.size()) sum += static_cast<std::uint32_t>(data[i] << 8);
    return sum;
}

std::uint16_t fold(std::uint32_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(~sum & 0xffff);
}

std::uint32_t pseudo_header_sum(std::size_t length, const Ipv6Address& source,
                                const Ipv6Address& destination) {
    std::uint32_t sum = add_words(0, source);
    sum = add_words(sum, destination);
    sum += static_cast<std::uint32_t>(length >> 16) + static_cast<std::uint32_t>(length & 0xffff);
    sum += kIpProtoMobilityHeader;
    return sum;
}

}  // namespace

std::uint16_t compute_checksum(std::span<const std::uint8_t> mh, const Ipv6Address& source,
                               const Ipv6Address& destination) {
    std::uint32_t sum = pseudo_header_sum(mh.size(), source, destination);
    if (mh.size() <= 4) return fold(add_words(sum, mh));
    sum = add_words(sum, mh.first(4));
    if (mh.size() > 6) sum = add_words(sum, mh.subspan(6));  // 6 is even: word boundaries kept
    return fold(sum);
}

bool verify_checksum(std::span<const std::uint8_t> mh, const Ipv6Address& source,
                     const Ipv6Address& destination) {
    if (mh.size() < 6) return false;
    const std::uint16_t stored = static_cast<std::uint16_t>(mh[4] << 8 | mh[5]);
    return compute_checksum(mh, source, destination) == stored;
}

void fill_checksum(std::span<std::uint8_t> mh, const Ipv6Address& source,
                   const Ipv6Address& destination) {
    if (mh.size() < 6) return;
    const std::uint16_t c = compute_checksum(mh, source, destination);
    mh[4] = static_cast<std::uint8_t>(c >> 8);
    mh[5] = static_cast<std::uint8_t>(c);
}

ParseResult parse_with_checksum(std::span<const std::uint8_t> mh, const Ipv6Address& source,
                                const Ipv6Address& destination, const ParseConfig& config) {
    if (mh.size() >= 8) {
        const std::size_t declared = (static_cast<std::size_t>(mh[1]) + 1) * 8;
        if (declared <= mh.size()) {
            const bool ok = verify_checksum(mh.first(declared), source, destination) ||
                            (config.lenient && verify_checksum(mh, source, destination));
            if (!ok) return ParseError{ParseErrorKind::kBadChecksum, Reaction::kDropSilently, 4, 0};
        }
    }
    return parse(mh, config);
}

}  // namespace pmip::mh
