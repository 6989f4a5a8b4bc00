// pmip-mh: capture file I/O and frame walking (see pcap_io.hpp).
#include "pcap_io.hpp"

#include <pcap/pcap.h>

#include <algorithm>
#include <cstring>

namespace pmip::tools {
namespace {

// Link-layer header type numbers as pcap_datalink() reports them.
constexpr int kLinkNull = 0;
constexpr int kLinkEthernet = 1;
constexpr int kLinkRawLinux = 12;
constexpr int kLinkRawBsd = 14;
constexpr int kLinkRaw = 101;
constexpr int kLinkLinuxSll = 113;
constexpr int kLinkIpv6 = 229;
constexpr int kLinkLinuxSll2 = 276;

constexpr std::uint16_t kEtherTypeIpv6 = 0x86dd;
constexpr std::uint16_t kEtherTypeVlan = 0x8100;
constexpr std::uint16_t kEtherTypeQinQ = 0x88a8;

constexpr std::size_t kIpv6HeaderLength = 40;

constexpr std::uint8_t kHopByHop = 0;
constexpr std::uint8_t kRouting = 43;
constexpr std::uint8_t kFragment = 44;
constexpr std::uint8_t kAuthentication = 51;
constexpr std::uint8_t kDestinationOptions = 60;
constexpr std::uint8_t kRoutingType2 = 2;
constexpr std::uint8_t kHomeAddressOption = 201;
constexpr int kMaxExtensionHeaders = 16;

std::uint16_t read16(std::span<const std::uint8_t> b, std::size_t at) {
    return static_cast<std::uint16_t>(b[at] << 8 | b[at + 1]);
}

mh::Ipv6Address read_address(std::span<const std::uint8_t> b, std::size_t at) {
    mh::Ipv6Address a{};
    std::copy_n(b.begin() + static_cast<std::ptrdiff_t>(at), a.size(), a.begin());
    return a;
}

// The IP packet inside a link-layer frame, or an empty span.
std::span<const std::uint8_t> ip_packet(int link_type, std::span<const std::uint8_t> frame) {
    switch (link_type) {
        case kLinkRawLinux:
        case kLinkRawBsd:
        case kLinkRaw:
        case kLinkIpv6:
            return frame;
        case kLinkNull:
            return frame.size() >= 4 ? frame.subspan(4) : std::span<const std::uint8_t>{};
        case kLinkEthernet: {
            std::size_t type_at = 12;
            if (frame.size() < type_at + 2)
                return {};
            std::uint16_t ether_type = read16(frame, type_at);
            if (ether_type == kEtherTypeVlan || ether_type == kEtherTypeQinQ) {
                type_at += 4;
                if (frame.size() < type_at + 2)
                    return {};
                ether_type = read16(frame, type_at);
            }
            if (ether_type != kEtherTypeIpv6)
                return {};
            return frame.subspan(type_at + 2);
        }
        case kLinkLinuxSll:
            if (frame.size() < 16 || read16(frame, 14) != kEtherTypeIpv6)
                return {};
            return frame.subspan(16);
        case kLinkLinuxSll2:
            if (frame.size() < 20 || read16(frame, 0) != kEtherTypeIpv6)
                return {};
            return frame.subspan(20);
        default:
            return {};
    }
}

// A Home Address destination option in a Destination Options header.
std::optional<mh::Ipv6Address> home_address_option(std::span<const std::uint8_t> header) {
    std::size_t at = 2;
    while (at < header.size()) {
        const std::uint8_t type = header[at];
        if (type == 0) {  // Pad1
            ++at;
            continue;
        }
        if (at + 2 > header.size())
            break;
        const std::size_t length = header[at + 1];
        if (at + 2 + length > header.size())
            break;
        if (type == kHomeAddressOption && length == 16)
            return read_address(header, at + 2);
        at += 2 + length;
    }
    return std::nullopt;
}

}  // namespace

bool link_type_supported(int link_type) {
    switch (link_type) {
        case kLinkNull:
        case kLinkEthernet:
        case kLinkRawLinux:
        case kLinkRawBsd:
        case kLinkRaw:
        case kLinkLinuxSll:
        case kLinkIpv6:
        case kLinkLinuxSll2:
            return true;
        default:
            return false;
    }
}

std::optional<MobilityHeaderInFrame> find_mobility_header(int link_type,
                                                          std::span<const std::uint8_t> frame) {
    const auto ip = ip_packet(link_type, frame);
    if (ip.size() < kIpv6HeaderLength || (ip[0] >> 4) != 6)
        return std::nullopt;

    MobilityHeaderInFrame found;
    found.source = read_address(ip, 8);
    found.destination = read_address(ip, 24);
    auto payload = ip.subspan(kIpv6HeaderLength);
    const std::size_t payload_length = read16(ip, 4);
    if (payload_length != 0) {  // 0 = jumbogram: take what was captured
        if (payload_length <= payload.size()) {
            payload = payload.first(payload_length);  // drops Ethernet trailer padding
        } else {
            found.complete = false;
        }
    }

    std::uint8_t next = ip[6];
    std::size_t at = 0;
    for (int i = 0; i < kMaxExtensionHeaders; ++i) {
        if (next == mh::kIpProtoMobilityHeader) {
            found.mh = payload.subspan(at);
            return found;
        }
        if (at + 8 > payload.size())
            return std::nullopt;  // every extension header is >= 8
        const auto header = payload.subspan(at);
        std::size_t length = 0;
        switch (next) {
            case kHopByHop:
            case kDestinationOptions:
                length = (static_cast<std::size_t>(header[1]) + 1) * 8;
                if (length > header.size())
                    return std::nullopt;
                if (next == kDestinationOptions) {
                    if (auto home = home_address_option(header.first(length)))
                        found.source = *home;
                }
                break;
            case kRouting:
                length = (static_cast<std::size_t>(header[1]) + 1) * 8;
                if (length > header.size())
                    return std::nullopt;
                if (header[2] == kRoutingType2 && header[3] > 0 && length >= 24) {
                    found.destination = read_address(header, 8);
                }
                break;
            case kFragment:
                length = 8;
                if ((read16(header, 2) & 0xfff8) != 0)
                    return std::nullopt;  // not the first
                break;
            case kAuthentication:
                length = (static_cast<std::size_t>(header[1]) + 2) * 4;
                if (length > header.size())
                    return std::nullopt;
                break;
            default:
                return std::nullopt;  // another upper layer, ESP, or No Next Header
        }
        next = header[0];
        at += length;
    }
    return std::nullopt;
}

std::vector<std::uint8_t> ipv6_packet(std::span<const std::uint8_t> mh,
                                      const mh::Ipv6Address& source,
                                      const mh::Ipv6Address& destination) {
    std::vector<std::uint8_t> packet(kIpv6HeaderLength);
    packet[0] = 0x60;
    packet[4] = static_cast<std::uint8_t>(mh.size() >> 8);
    packet[5] = static_cast<std::uint8_t>(mh.size());
    packet[6] = mh::kIpProtoMobilityHeader;
    packet[7] = 64;  // hop limit
    std::copy(source.begin(), source.end(), packet.begin() + 8);
    std::copy(destination.begin(), destination.end(), packet.begin() + 24);
    packet.insert(packet.end(), mh.begin(), mh.end());
    return packet;
}

PcapReader::~PcapReader() {
    if (handle_ != nullptr)
        pcap_close(handle_);
}

std::optional<std::string> PcapReader::open(const std::string& path) {
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    handle_ = pcap_open_offline(path.c_str(), errbuf);
    if (handle_ == nullptr)
        return std::string(errbuf);
    return std::nullopt;
}

int PcapReader::link_type() const {
    return pcap_datalink(handle_);
}

bool PcapReader::next(std::span<const std::uint8_t>& frame) {
    pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    const int rc = pcap_next_ex(handle_, &header, &data);
    if (rc == 1) {
        frame = std::span<const std::uint8_t>(data, header->caplen);
        return true;
    }
    if (rc == PCAP_ERROR)
        error_ = pcap_geterr(handle_);
    return false;
}

PcapWriter::~PcapWriter() {
    close();
}

std::optional<std::string> PcapWriter::open(const std::string& path) {
    handle_ = pcap_open_dead(DLT_RAW, 65535);  // written as LINKTYPE_RAW (101)
    if (handle_ == nullptr)
        return std::string("pcap_open_dead failed");
    dumper_ = pcap_dump_open(handle_, path.c_str());
    if (dumper_ == nullptr)
        return std::string(pcap_geterr(handle_));
    return std::nullopt;
}

void PcapWriter::write(std::span<const std::uint8_t> packet) {
    pcap_pkthdr header{};
    ++packets_;
    header.ts.tv_sec = packets_;  // deterministic: packet n at n seconds after the epoch
    header.caplen = static_cast<bpf_u_int32>(packet.size());
    header.len = header.caplen;
    pcap_dump(reinterpret_cast<u_char*>(dumper_), &header, packet.data());
}

std::optional<std::string> PcapWriter::close() {
    std::optional<std::string> error;
    if (dumper_ != nullptr) {
        if (pcap_dump_flush(dumper_) != 0)
            error = "cannot write the capture file";
        pcap_dump_close(dumper_);
        dumper_ = nullptr;
    }
    if (handle_ != nullptr) {
        pcap_close(handle_);
        handle_ = nullptr;
    }
    return error;
}

}  // namespace pmip::tools
