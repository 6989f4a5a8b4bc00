// Authenticated MAG <-> LMA signalling (RFC 4285 options). See message_auth.hpp.
#include "pmip/common/message_auth.hpp"

#include "pmip/common/config_file.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

namespace pmip::auth {

std::string_view to_string(Mode mode) {
    switch (mode) {
        case Mode::kOff: return "off";
        case Mode::kOptional: return "optional";
        case Mode::kRequired: return "required";
    }
    return "?";
}

std::optional<Mode> parse_mode(std::string_view text) {
    if (text == "off") return Mode::kOff;
    if (text == "optional") return Mode::kOptional;
    if (text == "required") return Mode::kRequired;
    return std::nullopt;
}

std::string_view to_string(Verdict verdict) {
    switch (verdict) {
        case Verdict::kAuthenticated: return "accepted";
        case Verdict::kUnsigned: return "accepted_unsigned";
        case Verdict::kNotConfigured: return "accepted_off";
        case Verdict::kMissing: return "missing";
        case Verdict::kUnknownSpi: return "unknown_spi";
        case Verdict::kBadAuthenticator: return "bad_authenticator";
        case Verdict::kNotLast: return "not_last";
        case Verdict::kReplayMissing: return "replay_missing";
        case Verdict::kReplayOld: return "replay_old";
        case Verdict::kReplayWindow: return "replay_window";
    }
    return "?";
}

MessageAuthenticator::MessageAuthenticator(std::vector<PeerSecurity> peers, const Clock& clock)
    : peers_(std::move(peers)), clock_(clock) {}

void MessageAuthenticator::set_peers(std::vector<PeerSecurity> peers) {
    peers_ = std::move(peers);
    // Replay state stays with the addresses that are still configured.
    std::erase_if(last_replay_, [this](const auto& kv) { return find(kv.first) == nullptr; });
    std::erase_if(authenticated_, [this](const Ipv6Address& a) { return find(a) == nullptr; });
}

const PeerSecurity* MessageAuthenticator::find(const Ipv6Address& peer) const {
    const PeerSecurity* best = nullptr;
    for (const auto& p : peers_) {
        if (contains(p.peers, peer) && (best == nullptr || p.peers.length > best->peers.length))
            best = &p;
    }
    return best;
}

std::uint64_t MessageAuthenticator::now_timestamp() const {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(clock_.since_epoch());
    const auto count = static_cast<std::uint64_t>(ns.count());
    return mh::make_timestamp(count / 1'000'000'000u, static_cast<std::uint32_t>(count % 1'000'000'000u));
}

mh::Message MessageAuthenticator::sign(const Ipv6Address& source, const Ipv6Address& destination,
                                       mh::Message message) {
    const PeerSecurity* peer = find(destination);
    if (peer == nullptr || peer->mode == Mode::kOff || peer->associations.empty())
        return message;
    const SecurityAssociation& sa = peer->associations.front();
    auto& options = mh::options_of(message);
    std::erase_if(options, [](const mh::Option& o) {
        return std::holds_alternative<mh::MobilityMessageAuthentication>(o) ||
               std::holds_alternative<mh::MobilityMessageReplayProtection>(o);
    });
    // RFC 4285 section 6: strictly increasing, close to the receiver's clock.
    if (mh::find_option<mh::Timestamp>(options) == nullptr) {
        last_sent_replay_ = std::max(now_timestamp(), last_sent_replay_ + 1);
        options.push_back(mh::MobilityMessageReplayProtection{last_sent_replay_});
    }
    options.push_back(mh::MobilityMessageAuthentication{
        1, sa.spi, std::vector<std::uint8_t>(mh::authentication_data_length(sa.algorithm), 0)});
    const auto wire = mh::serialize(message, serialize_config_);
    const auto at = wire.empty() ? std::nullopt : mh::find_authentication_option(wire);
    const auto mac = at ? mh::compute_authentication_data(wire, *at, sa.algorithm, sa.key, source,
                                                          destination)
                        : std::nullopt;
    if (!mac) {
        count("sign_failed");  // sent with a zero authenticator: the peer rejects it
        return message;
    }
    std::get<mh::MobilityMessageAuthentication>(options.back()).authentication_data = *mac;
    count("signed");
    return message;
}

Verdict MessageAuthenticator::verify(const ReceivedPacket& packet, const mh::Message& message) {
    const auto verdict = [this](Verdict v) {
        count(std::string(to_string(v)));
        return v;
    };
    const PeerSecurity* peer = find(packet.source);
    const auto& options = mh::options_of(message);
    const auto* option = mh::find_option<mh::MobilityMessageAuthentication>(options);
    if (peer == nullptr || peer->mode == Mode::kOff) {
        if (option != nullptr) count("ignored_option");
        return verdict(Verdict::kNotConfigured);
    }
    if (option == nullptr)
        return verdict(peer->mode == Mode::kOptional ? Verdict::kUnsigned : Verdict::kMissing);
    // RFC 4285 section 5.1: the option is the last one of the message.
    if (!std::holds_alternative<mh::MobilityMessageAuthentication>(options.back()))
        return verdict(Verdict::kNotLast);
    const auto sa = std::find_if(peer->associations.begin(), peer->associations.end(),
                                 [&](const SecurityAssociation& s) { return s.spi == option->mobility_spi; });
    if (sa == peer->associations.end())
        return verdict(Verdict::kUnknownSpi);
    if (!mh::verify_authentication_option(packet.mh, sa->key, packet.source, packet.destination,
                                          sa->algorithm)) {
        return verdict(Verdict::kBadAuthenticator);
    }
    if (mh::find_option<mh::Timestamp>(options) == nullptr) {
        const auto* replay = mh::find_option<mh::MobilityMessageReplayProtection>(options);
        if (replay == nullptr)
            return verdict(Verdict::kReplayMissing);
        const std::uint64_t now = now_timestamp();
        const std::uint64_t window =
            static_cast<std::uint64_t>(peer->replay_window.count()) * 65536u / 1000u;
        const std::uint64_t distance =
            replay->timestamp > now ? replay->timestamp - now : now - replay->timestamp;
        if (distance > window)
            return verdict(Verdict::kReplayWindow);
        const auto last = last_replay_.find(packet.source);
        if (last != last_replay_.end() && replay->timestamp <= last->second)
            return verdict(Verdict::kReplayOld);
        last_replay_[packet.source] = replay->timestamp;
    }
    authenticated_.insert(packet.source);
    return verdict(Verdict::kAuthenticated);
}

nlohmann::json MessageAuthenticator::counters() const {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [k, v] : counters_) out[k] = v;
    return out;
}

std::uint64_t MessageAuthenticator::counter(const std::string& name) const {
    const auto it = counters_.find(name);
    return it == counters_.end() ? 0 : it->second;
}

KeyResult load_key(std::string_view spec) {
    const std::string path(spec);
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        return {{}, "key file " + path + " cannot be read"};
    if (!S_ISREG(st.st_mode))
        return {{}, "key file " + path + " is not a regular file"};
    if ((st.st_mode & 077) != 0) {
        std::ostringstream mode;
        mode << std::oct << (st.st_mode & 0777);
        return {{}, "key file " + path + " is accessible to group or others (mode 0" + mode.str() +
                        "): a key is a secret; chmod 600 it"};
    }
    std::ifstream in(path);
    if (!in)
        return {{}, "key file " + path + " cannot be read"};
    std::string hex;
    for (char c; in.get(c);) {
        if (!std::isspace(static_cast<unsigned char>(c))) hex += c;
    }
    if (hex.size() % 2 != 0 || !std::all_of(hex.begin(), hex.end(), [](char c) {
            return std::isxdigit(static_cast<unsigned char>(c)) != 0;
        })) {
        return {{}, "key file " + path + " does not hold a key in hex digits"};
    }
    std::vector<std::uint8_t> key;
    for (std::size_t i = 0; i < hex.size(); i += 2)
        key.push_back(static_cast<std::uint8_t>(std::stoul(hex.substr(i, 2), nullptr, 16)));
    if (key.size() < 16)
        return {{}, "key file " + path + " holds " + std::to_string(key.size()) +
                        " octets; at least 16 are needed (RFC 4285 section 5.1)"};
    return {std::move(key), {}};
}

PeerSecurityResult parse_peer_security(std::string_view line,
                                       std::chrono::milliseconds replay_window) {
    PeerSecurityResult r;
    const auto words = config::split_words(line);
    if (words.size() < 2 || (words.size() - 2) % 3 != 0) {
        r.error = "expected \"PEER-PREFIX off|optional|required [SPI ALGORITHM KEY-FILE]...\"";
        return r;
    }
    const auto prefix = parse_prefix(words[0]);
    if (!prefix || canonical(*prefix) != *prefix) {
        r.error = "\"" + words[0] + "\" is not an IPv6 address or prefix";
        return r;
    }
    const auto mode = parse_mode(words[1]);
    if (!mode) {
        r.error = "\"" + words[1] + "\" is not a mode (off|optional|required)";
        return r;
    }
    r.peer.peers = *prefix;
    r.peer.mode = *mode;
    r.peer.replay_window = replay_window;
    for (std::size_t i = 2; i < words.size(); i += 3) {
        SecurityAssociation sa;
        unsigned long spi = 0;
        try {
            std::size_t used = 0;
            spi = std::stoul(words[i], &used);
            if (used != words[i].size()) throw std::invalid_argument("");
        } catch (const std::exception&) {
            spi = 0;
        }
        if (spi < 256 || spi > 0xffffffffUL) {
            r.error = "SPI \"" + words[i] + "\" is not a number from 256 to 4294967295 (0-255 are "
                      "reserved, RFC 4285 section 5.1)";
            return r;
        }
        sa.spi = static_cast<std::uint32_t>(spi);
        const auto algorithm = mh::parse_auth_algorithm(words[i + 1]);
        if (!algorithm) {
            r.error = "\"" + words[i + 1] + "\" is not an algorithm (hmac-sha256|hmac-sha1-96)";
            return r;
        }
        sa.algorithm = *algorithm;
        auto key = load_key(words[i + 2]);
        if (!key.error.empty()) {
            r.error = key.error;
            return r;
        }
        sa.key = std::move(key.key);
        for (const auto& other : r.peer.associations) {
            if (other.spi == sa.spi) {
                r.error = "SPI " + words[i] + " given twice";
                return r;
            }
        }
        r.peer.associations.push_back(std::move(sa));
    }
    if (r.peer.mode != Mode::kOff && r.peer.associations.empty())
        r.error = std::string("mode ") + std::string(to_string(r.peer.mode)) +
                  " needs at least one \"SPI ALGORITHM KEY-FILE\"";
    return r;
}

std::string describe(const std::vector<PeerSecurity>& peers) {
    if (peers.empty()) return "off (no [auth] peers: messages neither signed nor checked)";
    std::string out;
    for (const auto& p : peers) {
        if (!out.empty()) out += "; ";
        out += std::string(to_string(p.mode)) + " for " + pmip::to_string(p.peers);
        std::string sas;
        for (const auto& sa : p.associations) {
            sas += (sas.empty() ? "" : ", ") + std::string("SPI ") + std::to_string(sa.spi) + " " +
                   std::string(mh::to_string(sa.algorithm));
        }
        if (!sas.empty()) out += " (" + sas + ")";
    }
    return out;
}

}  // namespace pmip::auth
