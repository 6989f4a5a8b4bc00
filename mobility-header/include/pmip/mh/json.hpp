// Mobility Header messages in JSON: the form tools/pmip-mh prints and reads,
// and that tests and logs use to show a message.
//
// One shape serves both directions, so decode output can be fed back to an
// encoder (members a decoder adds for context, "frame" and "quirks", are
// accepted and ignored on input):
//
//   {"type": "pbu"|"pba"|"bu"|"ba"|"be"|"heartbeat"|"bri"|"bra"|"upn"|"upa",
//    "sequence": N, "flags": ["A","P",...], "lifetime": UNITS, "status": N,
//    "options": [{"type": N, "name": "...", ...}, ...]}
//
// "pbu"/"pba" are a BU/BA with the P flag (RFC 5213 section 8.1, 8.2); on input
// they set P themselves. Flags are the letters of types.hpp (BU: A H L K M R P
// F T B S D and "C" for the configurable draft-asaeda bit; BA: K R P T B S D;
// heartbeat: U R; bri/bra: P V G; upn: A D); a set bit with no letter is a hex
// string ("0x0004") and is accepted back. Type-specific members: "lifetime"
// (bu, ba), "status" (ba, be, bra, upa), "home_address" (be), "trigger" (bri),
// "reason" (upn); the heartbeat "sequence" is 32 bits. Pad1/PadN never appear:
// the parser drops them and the serializer generates them. Addresses are text
// (RFC 5952 / dotted quad), prefixes "address/length", octet strings lowercase
// hex. The members of each option are listed in ../../../json/mh_json.cpp.
//
// message_from_json() never throws: on bad input it returns a message naming
// the member, e.g. "options[1].prefix: expected \"address/length\"".
//
// Thread safety: pure functions, no shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "pmip/mh/codec.hpp"
#include "pmip/mh/messages.hpp"

namespace pmip::mh {

// The JSON form of `m`. `quirks` (codec.hpp quirk:: bits from a lenient
// parse) adds "quirks": ["header_length_short", ...] when non-zero.
nlohmann::json to_json(const Message& m, const ExtensionCodePoints& cp = {},
                       std::uint32_t quirks = 0);

// The JSON form of one option (what to_json puts in "options").
nlohmann::json option_to_json(const Option& option, const ExtensionCodePoints& cp = {});

// A Message from its JSON form, or an error text naming the offending member.
std::variant<Message, std::string> message_from_json(const nlohmann::json& j,
                                                     const ExtensionCodePoints& cp = {});

// Lowercase hex, no separators.
std::string to_hex(std::span<const std::uint8_t> bytes);

// Hex digits in pairs; spaces, tabs, colons and a leading "0x" are ignored.
// nullopt on any other character or an odd digit count.
std::optional<std::vector<std::uint8_t>> parse_hex(std::string_view text);

}  // namespace pmip::mh
