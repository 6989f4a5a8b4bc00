// pmip-mh: capture files and finding the Mobility Header inside a frame.
//
// Reading: raw IP link types (LINKTYPE_RAW 101, DLT_RAW 12 / 14, DLT_IPV6
// 229), Ethernet (1; EtherType 0x86dd, after at most one 802.1Q / 802.1ad
// tag), Linux cooked capture v1 (113) and v2 (276), BSD loopback (0). The IPv6
// extension-header chain is walked (Hop-by-Hop 0, Routing 43, Fragment 44 first
// fragment only, Destination Options 60, AH 51) to Next Header 135. The
// checksum pseudo-header uses the final destination of a type 2 Routing header
// and the Home Address destination option when present (RFC 6275 6.1.1).
//
// Writing: LINKTYPE_RAW, one IPv6 packet per Mobility Header.
//
// libpcap does the file I/O (pcap and pcapng on input). Single-threaded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pmip/mh/types.hpp"

struct pcap;
struct pcap_dumper;

namespace pmip::tools {

// Where the Mobility Header of one frame is.
struct MobilityHeaderInFrame {
    std::span<const std::uint8_t> mh;  // from Payload Proto to the end of the IPv6 payload
    mh::Ipv6Address source{};          // pseudo-header source
    mh::Ipv6Address destination{};     // pseudo-header (final) destination
    bool complete = true;              // false when the capture cut the IPv6 payload short
};

bool link_type_supported(int link_type);

// The Mobility Header in `frame`, or nullopt when the frame is not IPv6, has
// no MH, or is a non-first fragment.
std::optional<MobilityHeaderInFrame> find_mobility_header(int link_type,
                                                          std::span<const std::uint8_t> frame);

// An IPv6 header (next header 135, hop limit 64) followed by `mh`.
std::vector<std::uint8_t> ipv6_packet(std::span<const std::uint8_t> mh,
                                      const mh::Ipv6Address& source,
                                      const mh::Ipv6Address& destination);

class PcapReader {
  public:
    PcapReader() = default;
    PcapReader(const PcapReader&) = delete;
    PcapReader& operator=(const PcapReader&) = delete;
    ~PcapReader();

    // Opens `path`; on failure returns the reason.
    std::optional<std::string> open(const std::string& path);
    int link_type() const;

    // The next frame into `frame`; false at the end of the file or on a read
    // error (then error() is non-empty).
    bool next(std::span<const std::uint8_t>& frame);
    const std::string& error() const { return error_; }

  private:
    pcap* handle_ = nullptr;
    std::string error_;
};

class PcapWriter {
  public:
    PcapWriter() = default;
    PcapWriter(const PcapWriter&) = delete;
    PcapWriter& operator=(const PcapWriter&) = delete;
    ~PcapWriter();

    // Creates `path` as a LINKTYPE_RAW capture; on failure returns the reason.
    std::optional<std::string> open(const std::string& path);
    void write(std::span<const std::uint8_t> packet);
    // Flushes and closes; returns the reason on failure.
    std::optional<std::string> close();

  private:
    pcap* handle_ = nullptr;
    pcap_dumper* dumper_ = nullptr;
    std::uint32_t packets_ = 0;
};

}  // namespace pmip::tools
