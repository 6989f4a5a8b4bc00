// pmip-mh encode: JSON lines on stdin to Mobility Headers as hex or pcap.
//
// Each non-blank line that does not start with '#' is one message in the form
// of pmip/mh/json.hpp. The checksum is filled in for the --src/--dst pair in
// both output forms. A bad line is reported on stderr with its line number and
// the offending member; the other lines are still encoded and the exit status
// is 1.
#include <iostream>
#include <string>

#include "commands.hpp"
#include "pcap_io.hpp"
#include "pmip/mh/codec.hpp"
#include "pmip/mh/json.hpp"

namespace pmip::tools {
namespace {

// The serialized, checksummed message of one input line, or nullopt after
// reporting why not.
std::optional<std::vector<std::uint8_t>> encode_line(const std::string& line, std::size_t number,
                                                     const EncodeCommand& command) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
        std::cerr << "pmip-mh: encode: line " << number << ": invalid JSON: " << e.what() << '\n';
        return std::nullopt;
    }
    auto decoded = mh::message_from_json(j, command.code_points);
    if (const auto* error = std::get_if<std::string>(&decoded)) {
        std::cerr << "pmip-mh: encode: line " << number << ": " << *error << '\n';
        return std::nullopt;
    }
    mh::SerializeError error{};
    auto bytes = mh::serialize(std::get<mh::Message>(decoded),
                               mh::SerializeConfig{command.code_points}, &error);
    if (bytes.empty()) {
        std::cerr << "pmip-mh: encode: line " << number
                  << ": cannot serialize: " << mh::to_string(error) << '\n';
        return std::nullopt;
    }
    mh::fill_checksum(bytes, command.source, command.destination);
    return bytes;
}

}  // namespace

int run_encode(const EncodeCommand& command) {
    PcapWriter writer;
    if (command.pcap) {
        if (const auto error = writer.open(*command.pcap)) {
            std::cerr << "pmip-mh: encode: cannot write " << *command.pcap << ": " << *error
                      << '\n';
            return kExitUsage;
        }
    }
    int status = kExitOk;
    std::string line;
    for (std::size_t number = 1; std::getline(std::cin, line); ++number) {
        const auto first = line.find_first_not_of(" \t\r");
        if (first == std::string::npos || line[first] == '#')
            continue;
        const auto bytes = encode_line(line, number, command);
        if (!bytes) {
            status = kExitMessageError;
            continue;
        }
        if (command.pcap) {
            writer.write(ipv6_packet(*bytes, command.source, command.destination));
        } else {
            std::cout << mh::to_hex(*bytes) << '\n';
        }
    }
    if (command.pcap) {
        if (const auto error = writer.close()) {
            std::cerr << "pmip-mh: encode: " << *command.pcap << ": " << *error << '\n';
            return kExitUsage;
        }
    }
    return status;
}

}  // namespace pmip::tools
