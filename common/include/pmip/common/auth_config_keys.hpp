// The authentication keys of a daemon's peer section, read the same way with
// the same messages by lmad ([mags]: its MAGs) and magd ([lmas]: its LMAs):
//   SECTION.auth = PREFIX off|optional|required [SPI ALGORITHM KEY-FILE]...
//                  (repeatable; common/message_auth.hpp says what each mode
//                  does, RFC 4285 options, RFC 5213 section 4)
//   SECTION.auth-replay-window-ms = 7000 (RFC 4285 section 6)
// Key files are loaded and checked here (load_key: owner-only, >= 16
// octets), so --check and a reload refuse what a start would refuse.
//
// Threading: none (start-up and reload). Counters: none.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "pmip/common/config_file.hpp"
#include "pmip/common/log.hpp"
#include "pmip/common/message_auth.hpp"
#include "pmip/common/result.hpp"

namespace pmip::auth {

// Reads SECTION.auth (each line checked, its key files loaded) under the
// window of SECTION.auth-replay-window-ms. Problems are reported at their
// line; a line with a problem is left out. `warn`, when given, says what a
// daemon finds doubtful about a valid line (a warning at that line), or "".
std::vector<PeerSecurity> read_auth_keys(
    config::Validator& v, const std::string& section,
    const std::function<std::string(const PeerSecurity&)>& warn = {});

// The --help text of both keys; `peers` names what PREFIX matches ("MAGs",
// "LMAs"), `daemon` the program ("lmad", "magd").
std::string auth_keys_help(std::string_view section, std::string_view peers,
                           std::string_view daemon);

// A reload of SECTION.auth from a daemon's re-read configuration (its Load,
// whose config has `auth`): all or nothing. With no error in the file the
// new lines go in force in `in_force` and `auth` (replay state kept) and the
// result is describe() of them, logged; otherwise an error naming the
// file's problems (warnings do not count), logged, and nothing changes.
// `log_context` is the daemon's ("[lma]").
template <typename Load>
Expected<std::string> reload(MessageAuthenticator& auth, std::vector<PeerSecurity>& in_force,
                             const Load& load, std::string_view section,
                             const char* log_context) {
    std::string text;
    for (const auto& p : load.problems) {
        if (!p.warning)
            text += (text.empty() ? "" : "; ") + p.to_string();
    }
    const std::string what = "[" + std::string(section) + "] auth";
    if (!text.empty()) {
        PMIP_WARNING(kMh, log_context, what + " not reloaded (keys stay): " + text);
        return Error{0, what + " not reloaded (keys stay): " + text};
    }
    in_force = load.config.auth;
    auth.set_peers(in_force);
    const std::string now = describe(in_force);
    PMIP_INFO(kMh, log_context, "signalling authentication reloaded: " + now);
    return now;
}

}  // namespace pmip::auth
