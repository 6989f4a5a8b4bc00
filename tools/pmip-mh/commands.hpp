// pmip-mh: the commands behind the command line.
//
// main.cpp parses arguments into these records and calls one run_* function;
// each returns the process exit status (0 ok, 1 a message could not be
// decoded or encoded, 2 usage error or unreadable/unwritable file).
#pragma once

#include <optional>
#include <string>

#include "pmip/mh/types.hpp"

namespace pmip::tools {

inline constexpr int kExitOk = 0;
inline constexpr int kExitMessageError = 1;
inline constexpr int kExitUsage = 2;

struct DecodeCommand {
    bool lenient = false;
    mh::ExtensionCodePoints code_points{};
    std::optional<std::string> hex;   // "-" = one hex message per line on stdin
    std::optional<std::string> pcap;  // capture file to read
};

struct EncodeCommand {
    mh::ExtensionCodePoints code_points{};
    mh::Ipv6Address source{};       // IPv6 source for the header and the checksum
    mh::Ipv6Address destination{};  // IPv6 destination for the header and the checksum
    bool hex = false;
    std::optional<std::string> pcap;  // capture file to write
};

int run_decode(const DecodeCommand& command);
int run_encode(const EncodeCommand& command);

// The manual page printed by --help.
const char* help_text();

}  // namespace pmip::tools
