// MLD codec: parse and serialize [RFC 2710 section 3; RFC 3810 sections 5, 8.1].
#include "pmip/mcast/mld_codec.hpp"

#include <limits>

#include "cursor.hpp"

namespace pmip::mcast {

namespace {

using detail::Reader;
using detail::Writer;

Ipv6Address read_address(Reader& r) {
    Ipv6Address a{};
    r.copy_to(std::span<std::uint8_t>(a));
    return a;
}

// MLDv1 messages: 24 octets, anything after ignored [RFC 2710 section 3.7].
ParseResult parse_v1(std::span<const std::uint8_t> icmp, std::uint8_t type) {
    if (icmp.size() < kV1MessageSize)
        return ParseError{ParseErrorKind::kTruncated, icmp.size()};
    Reader r(icmp);
    r.skip(4);  // type, code (ignored by receivers), checksum
    const std::uint16_t mrd = r.u16();
    r.skip(2);  // reserved
    const Ipv6Address address = read_address(r);
    Parsed p;
    p.length = kV1MessageSize;
    p.trailing_octets = icmp.size() - kV1MessageSize;
    switch (type) {
        case kTypeQuery:
            p.message = Mldv1Query{mrd, address};
            break;
        case kTypeV1Report:
            p.message = Mldv1Report{address};
            break;
        default:
            p.message = Mldv1Done{address};
            break;
    }
    return p;
}

ParseResult parse_query(std::span<const std::uint8_t> icmp) {
    // Version by length [RFC 3810 section 8.1].
    if (icmp.size() == kV1MessageSize)
        return parse_v1(icmp, kTypeQuery);
    if (icmp.size() < kV1MessageSize)
        return ParseError{ParseErrorKind::kTruncated, icmp.size()};
    if (icmp.size() < kV2QueryMinSize)
        return ParseError{ParseErrorKind::kBadLength, icmp.size()};
    Reader r(icmp);
    r.skip(4);
    Mldv2Query q;
    q.max_response_code = r.u16();
    r.skip(2);
    q.multicast_address = read_address(r);
    const std::uint8_t flags = r.u8();
    q.suppress_router_processing = (flags & 0x08) != 0;
    q.querier_robustness = flags & 0x07;
    q.querier_query_interval_code = r.u8();
    const std::uint16_t n = r.u16();
    if (r.remaining() / kAddressSize < n)
        return ParseError{ParseErrorKind::kSourceCountPastEnd, 26};
    q.sources.reserve(n);
    for (std::uint16_t i = 0; i < n; ++i) q.sources.push_back(read_address(r));
    Parsed p;
    p.length = r.offset();
    p.trailing_octets = r.remaining();
    p.message = std::move(q);
    return p;
}

ParseResult parse_v2_report(std::span<const std::uint8_t> icmp, const ParseConfig& config) {
    if (icmp.size() < kV2ReportHeaderSize)
        return ParseError{ParseErrorKind::kTruncated, icmp.size()};
    Reader r(icmp);
    r.skip(6);  // type, reserved, checksum, reserved
    const std::uint16_t m = r.u16();
    Mldv2Report report;
    std::size_t skipped = 0;
    for (std::uint16_t i = 0; i < m; ++i) {
        const std::size_t at = r.offset();
        if (r.remaining() < kRecordHeaderSize)
            return ParseError{ParseErrorKind::kRecordPastEnd, at};
        const std::uint8_t type = r.u8();
        const std::uint8_t aux_words = r.u8();
        const std::uint16_t n = r.u16();
        const Ipv6Address address = read_address(r);
        if (r.remaining() / kAddressSize < n) {
            return ParseError{ParseErrorKind::kSourceCountPastEnd, at + 2};
        }
        const std::size_t aux_len = static_cast<std::size_t>(aux_words) * 4;
        if (r.remaining() - static_cast<std::size_t>(n) * kAddressSize < aux_len) {
            return ParseError{ParseErrorKind::kAuxDataPastEnd, at + 1};
        }
        if (!is_known_record_type(type)) {
            if (!config.skip_unknown_record_types)
                return ParseError{ParseErrorKind::kBadRecordType, at};
            r.skip(static_cast<std::size_t>(n) * kAddressSize + aux_len);
            ++skipped;
            continue;
        }
        MulticastAddressRecord rec;
        rec.type = static_cast<RecordType>(type);
        rec.multicast_address = address;
        rec.sources.reserve(n);
        for (std::uint16_t j = 0; j < n; ++j) rec.sources.push_back(read_address(r));
        const auto aux = r.bytes(aux_len);
        rec.aux_data.assign(aux.begin(), aux.end());
        report.records.push_back(std::move(rec));
    }
    Parsed p;
    p.length = r.offset();
    p.trailing_octets = r.remaining();
    p.skipped_records = skipped;
    p.message = std::move(report);
    return p;
}

std::uint32_t add_words(std::uint32_t sum, std::span<const std::uint8_t> data) {
    std::size_t i = 0;
    for (; i + 1 < data.size(); i += 2)
        sum += static_cast<std::uint32_t>(data[i] << 8 | data[i + 1]);
    if (i < data.size())
        sum += static_cast<std::uint32_t>(data[i] << 8);
    return sum;
}

std::uint32_t fold_add(std::uint32_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return sum;
}

// Serialization: one function per message; Writer counts past the end so the
// same code computes the size.
void write_v1(Writer& w, std::uint8_t type, std::uint16_t mrd, const Ipv6Address& address) {
    w.u8(type);
    w.u8(0);
    w.u16(0);
    w.u16(mrd);
    w.u16(0);
    w.bytes(address);
}

std::variant<std::size_t, SerializeError> write_message(const MldMessage& message, Writer& w) {
    if (const auto* q1 = std::get_if<Mldv1Query>(&message)) {
        write_v1(w, kTypeQuery, q1->max_response_delay, q1->multicast_address);
    } else if (const auto* r1 = std::get_if<Mldv1Report>(&message)) {
        write_v1(w, kTypeV1Report, 0, r1->multicast_address);
    } else if (const auto* d1 = std::get_if<Mldv1Done>(&message)) {
        write_v1(w, kTypeV1Done, 0, d1->multicast_address);
    } else if (const auto* q = std::get_if<Mldv2Query>(&message)) {
        if (q->sources.size() > 0xffff)
            return SerializeError::kTooManySources;
        if (q->querier_robustness > 7)
            return SerializeError::kBadField;
        w.u8(kTypeQuery);
        w.u8(0);
        w.u16(0);
        w.u16(q->max_response_code);
        w.u16(0);
        w.bytes(q->multicast_address);
        w.u8(static_cast<std::uint8_t>((q->suppress_router_processing ? 0x08 : 0) |
                                       q->querier_robustness));
        w.u8(q->querier_query_interval_code);
        w.u16(static_cast<std::uint16_t>(q->sources.size()));
        for (const auto& s : q->sources) w.bytes(s);
    } else {
        const auto& report = std::get<Mldv2Report>(message);
        if (report.records.size() > 0xffff)
            return SerializeError::kTooManyRecords;
        w.u8(kTypeV2Report);
        w.u8(0);
        w.u16(0);
        w.u16(0);
        w.u16(static_cast<std::uint16_t>(report.records.size()));
        for (const auto& rec : report.records) {
            if (rec.sources.size() > 0xffff)
                return SerializeError::kTooManySources;
            if (rec.aux_data.size() % 4 != 0 || rec.aux_data.size() / 4 > 0xff) {
                return SerializeError::kBadAuxData;
            }
            w.u8(static_cast<std::uint8_t>(rec.type));
            w.u8(static_cast<std::uint8_t>(rec.aux_data.size() / 4));
            w.u16(static_cast<std::uint16_t>(rec.sources.size()));
            w.bytes(rec.multicast_address);
            for (const auto& s : rec.sources) w.bytes(s);
            w.bytes(rec.aux_data);
        }
    }
    return w.offset();
}

}  // namespace

std::string_view to_string(RecordType type) {
    switch (type) {
        case RecordType::kModeIsInclude:
            return "IS_IN";
        case RecordType::kModeIsExclude:
            return "IS_EX";
        case RecordType::kChangeToIncludeMode:
            return "TO_IN";
        case RecordType::kChangeToExcludeMode:
            return "TO_EX";
        case RecordType::kAllowNewSources:
            return "ALLOW";
        case RecordType::kBlockOldSources:
            return "BLOCK";
    }
    return "unknown";
}

bool is_known_record_type(std::uint8_t value) {
    return value >= 1 && value <= 6;
}

std::string_view to_string(ParseErrorKind kind) {
    switch (kind) {
        case ParseErrorKind::kTruncated:
            return "truncated";
        case ParseErrorKind::kNotMld:
            return "not an MLD message";
        case ParseErrorKind::kBadLength:
            return "bad query length";
        case ParseErrorKind::kSourceCountPastEnd:
            return "number of sources past end";
        case ParseErrorKind::kRecordPastEnd:
            return "number of records past end";
        case ParseErrorKind::kAuxDataPastEnd:
            return "aux data past end";
        case ParseErrorKind::kBadRecordType:
            return "bad record type";
        case ParseErrorKind::kBadChecksum:
            return "bad checksum";
    }
    return "unknown";
}

std::string_view to_string(SerializeError error) {
    switch (error) {
        case SerializeError::kBufferTooSmall:
            return "buffer too small";
        case SerializeError::kTooManySources:
            return "too many sources";
        case SerializeError::kTooManyRecords:
            return "too many records";
        case SerializeError::kBadAuxData:
            return "bad aux data";
        case SerializeError::kBadField:
            return "bad field";
    }
    return "unknown";
}

ParseResult parse(std::span<const std::uint8_t> icmp, const ParseConfig& config) {
    if (icmp.empty())
        return ParseError{ParseErrorKind::kTruncated, 0};
    switch (icmp[0]) {
        case kTypeQuery:
            return parse_query(icmp);
        case kTypeV1Report:
        case kTypeV1Done:
            return parse_v1(icmp, icmp[0]);
        case kTypeV2Report:
            return parse_v2_report(icmp, config);
        default:
            return ParseError{ParseErrorKind::kNotMld, 0};
    }
}

ParseResult parse_with_checksum(std::span<const std::uint8_t> icmp, const Ipv6Address& source,
                                const Ipv6Address& destination, const ParseConfig& config) {
    if (icmp.size() < 4)
        return ParseError{ParseErrorKind::kTruncated, icmp.size()};
    if (!verify_checksum(icmp, source, destination))
        return ParseError{ParseErrorKind::kBadChecksum, 2};
    return parse(icmp, config);
}

std::uint16_t compute_checksum(std::span<const std::uint8_t> icmp, const Ipv6Address& source,
                               const Ipv6Address& destination) {
    const std::size_t length = icmp.size();
    std::uint32_t sum = add_words(0, source);
    sum = add_words(sum, destination);
    sum += static_cast<std::uint32_t>(length >> 16) + static_cast<std::uint32_t>(length & 0xffff);
    sum += kIpProtoIcmpv6;
    sum = fold_add(sum);
    if (icmp.size() <= 2) {
        sum = fold_add(add_words(sum, icmp));
    } else {
        sum = fold_add(add_words(sum, icmp.first(2)));
        if (icmp.size() > 4)
            sum = fold_add(add_words(sum, icmp.subspan(4)));
    }
    return static_cast<std::uint16_t>(~sum & 0xffff);
}

bool verify_checksum(std::span<const std::uint8_t> icmp, const Ipv6Address& source,
                     const Ipv6Address& destination) {
    if (icmp.size() < 4)
        return false;
    const std::uint16_t stored = static_cast<std::uint16_t>(icmp[2] << 8 | icmp[3]);
    return compute_checksum(icmp, source, destination) == stored;
}

void fill_checksum(std::span<std::uint8_t> icmp, const Ipv6Address& source,
                   const Ipv6Address& destination) {
    if (icmp.size() < 4)
        return;
    const std::uint16_t c = compute_checksum(icmp, source, destination);
    icmp[2] = static_cast<std::uint8_t>(c >> 8);
    icmp[3] = static_cast<std::uint8_t>(c);
}

std::variant<std::size_t, SerializeError> serialized_size(const MldMessage& message) {
    Writer w(std::span<std::uint8_t>{});
    return write_message(message, w);
}

std::variant<std::size_t, SerializeError> serialize(const MldMessage& message,
                                                    std::span<std::uint8_t> out) {
    Writer w(out);
    auto result = write_message(message, w);
    if (std::holds_alternative<std::size_t>(result) && w.overflow())
        return SerializeError::kBufferTooSmall;
    return result;
}

std::vector<std::uint8_t> serialize(const MldMessage& message, SerializeError* error) {
    const auto size = serialized_size(message);
    if (const auto* e = std::get_if<SerializeError>(&size)) {
        if (error)
            *error = *e;
        return {};
    }
    std::vector<std::uint8_t> out(std::get<std::size_t>(size));
    const auto written = serialize(message, std::span<std::uint8_t>(out));
    if (const auto* e = std::get_if<SerializeError>(&written)) {
        if (error)
            *error = *e;
        return {};
    }
    return out;
}

// RFC 3810 section 5.1.3: MRC < 32768 is the delay itself; otherwise
// 1 | exp (3 bits) | mant (12 bits) and delay = (mant | 0x1000) << (exp + 3).
std::uint32_t decode_max_response_code(std::uint16_t code) {
    if (code < 0x8000)
        return code;
    const std::uint32_t exp = (code >> 12) & 0x7;
    const std::uint32_t mant = code & 0x0fff;
    return (mant | 0x1000) << (exp + 3);
}

std::uint16_t encode_max_response_delay(std::uint32_t delay_ms) {
    if (delay_ms < 0x8000)
        return static_cast<std::uint16_t>(delay_ms);
    std::uint32_t exp = 0;
    while (exp < 7 && (delay_ms >> (exp + 3)) > 0x1fff) ++exp;
    std::uint32_t mant = delay_ms >> (exp + 3);
    if (mant > 0x1fff)
        mant = 0x1fff;  // saturate at 8,387,584 ms
    return static_cast<std::uint16_t>(0x8000 | exp << 12 | (mant & 0x0fff));
}

// RFC 3810 section 5.1.9: QQIC < 128 is the interval itself; otherwise
// 1 | exp (3 bits) | mant (4 bits) and QQI = (mant | 0x10) << (exp + 3).
std::uint32_t decode_qqic(std::uint8_t code) {
    if (code < 0x80)
        return code;
    const std::uint32_t exp = (code >> 4) & 0x7;
    const std::uint32_t mant = code & 0x0f;
    return (mant | 0x10) << (exp + 3);
}

std::uint8_t encode_qqic(std::uint32_t interval_s) {
    if (interval_s < 0x80)
        return static_cast<std::uint8_t>(interval_s);
    std::uint32_t exp = 0;
    while (exp < 7 && (interval_s >> (exp + 3)) > 0x1f) ++exp;
    std::uint32_t mant = interval_s >> (exp + 3);
    if (mant > 0x1f)
        mant = 0x1f;  // saturate at 31,744 s
    return static_cast<std::uint8_t>(0x80 | exp << 4 | (mant & 0x0f));
}

std::array<std::uint8_t, 8> router_alert_hop_by_hop(std::uint8_t next_header) {
    auto h = kRouterAlertHopByHop;
    h[0] = next_header;
    return h;
}

// RFC 8200 section 4.3 option TLVs; Router Alert [RFC 2711 section 2.1].
bool has_mld_router_alert(std::span<const std::uint8_t> hbh) {
    if (hbh.size() < 8)
        return false;
    const std::size_t length = (static_cast<std::size_t>(hbh[1]) + 1) * 8;
    if (length > hbh.size())
        return false;
    std::size_t i = 2;
    while (i < length) {
        const std::uint8_t type = hbh[i];
        if (type == 0) {  // Pad1
            ++i;
            continue;
        }
        if (i + 2 > length)
            return false;
        const std::size_t len = hbh[i + 1];
        if (i + 2 + len > length)
            return false;
        if (type == 0x05 && len == 2 && hbh[i + 2] == 0 && hbh[i + 3] == 0)
            return true;
        i += 2 + len;
    }
    return false;
}

Ipv6Address query_destination(const Ipv6Address& multicast_address) {
    return multicast_address == kUnspecified ? kAllNodes : multicast_address;
}

}  // namespace pmip::mcast
