// pmip-mh decode: Mobility Headers from hex or a capture file to JSON lines.
//
// One JSON object per Mobility Header on stdout. A message that does not
// parse (or whose checksum is wrong) gives an {"error": ...} object instead
// and makes the exit status 1; later messages are still processed.
#include <iostream>
#include <string>

#include "commands.hpp"
#include "json_line.hpp"
#include "pcap_io.hpp"
#include "pmip/mh/codec.hpp"
#include "pmip/mh/json.hpp"

namespace pmip::tools {
namespace {

bool is_option_error(mh::ParseErrorKind kind) {
    return kind == mh::ParseErrorKind::kOptionTruncated ||
           kind == mh::ParseErrorKind::kOptionBadLength ||
           kind == mh::ParseErrorKind::kOptionBadValue;
}

nlohmann::json error_to_json(const mh::ParseError& error) {
    nlohmann::json j = {{"error", std::string(mh::to_string(error.kind))},
                        {"reaction", std::string(mh::to_string(error.reaction))},
                        {"offset", error.offset}};
    if (is_option_error(error.kind))
        j["option_type"] = error.option_type;
    return j;
}

// Prints the result of one parse; returns false for an error.
bool print_result(const mh::ParseResult& result, const mh::ParseConfig& config,
                  std::optional<std::size_t> frame) {
    nlohmann::json j;
    bool ok = true;
    if (const auto* parsed = std::get_if<mh::Parsed>(&result)) {
        j = mh::to_json(parsed->message, config.code_points, parsed->quirks);
    } else {
        j = error_to_json(std::get<mh::ParseError>(result));
        ok = false;
    }
    if (frame)
        j["frame"] = *frame;
    std::cout << json_line(j) << '\n';
    return ok;
}

int decode_hex_argument(const std::string& text, const mh::ParseConfig& config) {
    const auto bytes = mh::parse_hex(text);
    if (!bytes) {
        std::cerr << "pmip-mh: decode: --hex: not a hex string: \"" << text << "\"\n";
        return kExitUsage;
    }
    return print_result(mh::parse(*bytes, config), config, std::nullopt) ? kExitOk
                                                                         : kExitMessageError;
}

int decode_hex_lines(std::istream& in, const mh::ParseConfig& config) {
    int status = kExitOk;
    std::string line;
    for (std::size_t number = 1; std::getline(in, line); ++number) {
        if (line.find_first_not_of(" \t\r") == std::string::npos)
            continue;
        const auto bytes = mh::parse_hex(line);
        if (!bytes) {
            std::cerr << "pmip-mh: decode: stdin line " << number << ": not a hex string\n";
            status = kExitMessageError;
            continue;
        }
        if (!print_result(mh::parse(*bytes, config), config, std::nullopt)) {
            status = kExitMessageError;
        }
    }
    return status;
}

int decode_pcap(const std::string& path, const mh::ParseConfig& config) {
    PcapReader reader;
    if (const auto error = reader.open(path)) {
        std::cerr << "pmip-mh: decode: cannot read " << path << ": " << *error << '\n';
        return kExitUsage;
    }
    if (!link_type_supported(reader.link_type())) {
        std::cerr << "pmip-mh: decode: " << path << ": unsupported link type " << reader.link_type()
                  << " (supported: raw IPv6 12/14/101/229, Ethernet 1, Linux cooked 113/276, "
                     "BSD loopback 0)\n";
        return kExitUsage;
    }
    int status = kExitOk;
    std::span<const std::uint8_t> frame;
    for (std::size_t number = 1; reader.next(frame); ++number) {
        const auto found = find_mobility_header(reader.link_type(), frame);
        if (!found)
            continue;
        // A capture cut short cannot be checksummed; the parse reports the truncation.
        const auto result = found->complete ? mh::parse_with_checksum(found->mh, found->source,
                                                                      found->destination, config)
                                            : mh::parse(found->mh, config);
        if (!print_result(result, config, number))
            status = kExitMessageError;
    }
    if (!reader.error().empty()) {
        std::cerr << "pmip-mh: decode: " << path << ": " << reader.error() << '\n';
        return kExitUsage;
    }
    return status;
}

}  // namespace

int run_decode(const DecodeCommand& command) {
    mh::ParseConfig config;
    config.lenient = command.lenient;
    config.code_points = command.code_points;
    if (command.pcap)
        return decode_pcap(*command.pcap, config);
    if (*command.hex == "-")
        return decode_hex_lines(std::cin, config);
    return decode_hex_argument(*command.hex, config);
}

}  // namespace pmip::tools
