// pmip-mh: command-line entry point. Parses the arguments into a
// DecodeCommand or EncodeCommand (commands.hpp) and runs it; everything else
// lives in decode.cpp, encode.cpp and pcap_io.cpp.
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "commands.hpp"

namespace {

using pmip::tools::kExitOk;
using pmip::tools::kExitUsage;

constexpr std::string_view kVersion = "0.1.0";

// A usage error: message on stderr, exit status 2.
struct UsageError {
    std::string text;
};

[[noreturn]] void usage_error(const std::string& text) {
    throw UsageError{text};
}

// Walks argv, accepting "--name value" and "--name=value".
class Arguments {
  public:
    Arguments(int argc, char** argv, int first) {
        for (int i = first; i < argc; ++i) items_.emplace_back(argv[i]);
    }

    bool done() const { return index_ >= items_.size(); }

    // The next option name (the part before '=' if any).
    std::string next_name() {
        std::string item = items_[index_++];
        inline_value_.reset();
        if (item.rfind("--", 0) == 0) {
            const auto eq = item.find('=');
            if (eq != std::string::npos) {
                inline_value_ = item.substr(eq + 1);
                item.resize(eq);
            }
        }
        return item;
    }

    std::string value(const std::string& name) {
        if (inline_value_) {
            auto v = *inline_value_;
            inline_value_.reset();
            return v;
        }
        if (done())
            usage_error(name + " needs a value");
        return items_[index_++];
    }

    void no_value(const std::string& name) {
        if (inline_value_)
            usage_error(name + " takes no value");
    }

  private:
    std::vector<std::string> items_;
    std::size_t index_ = 0;
    std::optional<std::string> inline_value_;
};

unsigned long parse_number(const std::string& name, const std::string& text, unsigned long max) {
    if (text.empty())
        usage_error(name + ": empty value");
    char* end = nullptr;
    const unsigned long value = std::strtoul(text.c_str(), &end, 0);  // 0x.. or decimal
    if (*end != '\0' || text[0] == '-' || value > max) {
        usage_error(name + ": \"" + text + "\" is not a number in 0.." + std::to_string(max));
    }
    return value;
}

pmip::mh::Ipv6Address parse_address(const std::string& name, const std::string& text) {
    const auto address = pmip::mh::parse_ipv6_address(text);
    if (!address)
        usage_error(name + ": \"" + text + "\" is not an IPv6 address");
    return *address;
}

// --c-flag and --subscription-option-type, shared by both commands.
bool parse_code_point(Arguments& args, const std::string& name,
                      pmip::mh::ExtensionCodePoints& code_points) {
    if (name == "--c-flag") {
        const auto flag = parse_number(name, args.value(name), 0xffff);
        if (flag == 0 || (flag & (flag - 1)) != 0) {
            usage_error(name + ": must be a single bit such as 0x0008 or 0x0100");
        }
        code_points.multicast_subscription_flag = static_cast<std::uint16_t>(flag);
        return true;
    }
    if (name == "--subscription-option-type") {
        const auto type = parse_number(name, args.value(name), 255);
        if (type < 2)
            usage_error(name + ": 0 and 1 are Pad1 and PadN");
        code_points.multicast_subscription_option_type = static_cast<std::uint8_t>(type);
        return true;
    }
    return false;
}

pmip::tools::DecodeCommand parse_decode(Arguments& args) {
    pmip::tools::DecodeCommand command;
    while (!args.done()) {
        const auto name = args.next_name();
        if (parse_code_point(args, name, command.code_points))
            continue;
        if (name == "--lenient") {
            args.no_value(name);
            command.lenient = true;
        } else if (name == "--hex") {
            command.hex = args.value(name);
        } else if (name == "--pcap") {
            command.pcap = args.value(name);
        } else {
            usage_error("decode: unknown argument \"" + name + "\"");
        }
    }
    if (command.hex.has_value() == command.pcap.has_value()) {
        usage_error("decode: give exactly one of --hex HEX and --pcap FILE");
    }
    return command;
}

pmip::tools::EncodeCommand parse_encode(Arguments& args) {
    pmip::tools::EncodeCommand command;
    command.source = *pmip::mh::parse_ipv6_address("2001:db8::1");
    command.destination = *pmip::mh::parse_ipv6_address("2001:db8::2");
    while (!args.done()) {
        const auto name = args.next_name();
        if (parse_code_point(args, name, command.code_points))
            continue;
        if (name == "--src") {
            command.source = parse_address(name, args.value(name));
        } else if (name == "--dst") {
            command.destination = parse_address(name, args.value(name));
        } else if (name == "--hex") {
            args.no_value(name);
            command.hex = true;
        } else if (name == "--pcap") {
            command.pcap = args.value(name);
        } else {
            usage_error("encode: unknown argument \"" + name + "\"");
        }
    }
    if (command.hex == command.pcap.has_value()) {
        usage_error("encode: give exactly one of --hex and --pcap FILE");
    }
    return command;
}

bool wants_help(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "--help" || a == "-h")
            return true;
    }
    return argc >= 2 && std::string_view(argv[1]) == "help";
}

}  // namespace

int main(int argc, char** argv) {
    if (wants_help(argc, argv)) {
        std::cout << pmip::tools::help_text();
        return kExitOk;
    }
    try {
        if (argc < 2)
            usage_error("missing command (decode or encode)");
        const std::string_view command = argv[1];
        if (command == "--version") {
            std::cout << "pmip-mh " << kVersion << '\n';
            return kExitOk;
        }
        Arguments args(argc, argv, 2);
        if (command == "decode")
            return pmip::tools::run_decode(parse_decode(args));
        if (command == "encode")
            return pmip::tools::run_encode(parse_encode(args));
        usage_error("unknown command \"" + std::string(command) + "\" (decode or encode)");
    } catch (const UsageError& e) {
        std::cerr << "pmip-mh: " << e.text << "\nTry 'pmip-mh --help'.\n";
        return kExitUsage;
    }
}
