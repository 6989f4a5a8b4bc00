// The authentication keys of a peer section. See auth_config_keys.hpp.
#include "pmip/common/auth_config_keys.hpp"

#include <algorithm>
#include <chrono>

namespace pmip::auth {

std::vector<PeerSecurity> read_auth_keys(
    config::Validator& v, const std::string& section,
    const std::function<std::string(const PeerSecurity&)>& warn) {
    unsigned replay_ms = 7000;  // RFC 4285 section 6
    v.number_into<unsigned>(section + ".auth-replay-window-ms", replay_ms, 3000, 600000, " ms");
    std::vector<PeerSecurity> peers;
    const std::string key = section + ".auth";
    for (const config::Value& value : v.all(key)) {
        auto r = parse_peer_security(value.text, std::chrono::milliseconds(replay_ms));
        if (!r.error.empty()) {
            v.error(value, key, r.error);
            continue;
        }
        const bool repeated = std::any_of(peers.begin(), peers.end(), [&](const PeerSecurity& p) {
            return p.peers == r.peer.peers;
        });
        if (repeated) {
            v.error(value, key, pmip::to_string(r.peer.peers) + " given on two lines");
            continue;
        }
        if (warn) {
            if (const std::string w = warn(r.peer); !w.empty())
                v.warning(value, key, w);
        }
        peers.push_back(std::move(r.peer));
    }
    return peers;
}

std::string auth_keys_help(std::string_view section, std::string_view peers,
                           std::string_view daemon) {
    const std::string s(section), p(peers), d(daemon);
    return "    " + s + ".auth = (repeatable; none = off) \"PREFIX off|optional|required [SPI ALGORITHM KEY-FILE]...\"\n"
           "        Authenticated signalling with the " + p + " in PREFIX (RFC 5213\n"
           "        section 4; RFC 4285 Mobility Message Authentication option,\n"
           "        subtype 1, over source, destination and the Mobility Header):\n"
           "        every message to them is signed with the first SPI's key, every\n"
           "        message from them is checked against each SPI given (two during\n"
           "        a key rotation: add the new SPI second, reload both ends, move it\n"
           "        first, reload, remove the old one). ALGORITHM: hmac-sha256 (use\n"
           "        this) or hmac-sha1-96 (RFC 4285 peers). SPI: 256..4294967295, the\n"
           "        same at both ends. KEY-FILE: the key in hex (at least 16 octets;\n"
           "        32 for hmac-sha256), a regular file readable by its owner only\n"
           "        (" + d + " refuses a key others can read). Modes: required\n"
           "        (unsigned or wrongly signed messages create no state and are\n"
           "        counted in show counters, auth), optional (unsigned messages\n"
           "        accepted and counted, wrongly signed ones never; everything sent\n"
           "        is signed: for migrating a domain), off. The longest matching\n"
           "        PREFIX applies; peers outside every line are neither signed to\n"
           "        nor checked. Messages without a Timestamp option carry a replay\n"
           "        protection option (RFC 4285 section 6). Reloaded with the policy\n"
           "        store (SIGHUP, pmipctl reload) without touching bindings.\n"
           "        Example: auth = 2001:db8:100::/64 required 1000 hmac-sha256 /etc/pmip/" + s + ".key\n"
           "    " + s + ".auth-replay-window-ms = 7000\n"
           "        How far a replay protection timestamp may be from our clock\n"
           "        (3000..600000; RFC 4285 section 6: 7 s). Both ends need\n"
           "        synchronised clocks (NTP), as for the RFC 5213 timestamps.\n";
}

}  // namespace pmip::auth
