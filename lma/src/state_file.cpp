// lmad state file: restart counter and peers, written atomically.
#include "state_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace pmip::lma {

Expected<LmadState> read_state_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        if (errno == ENOENT)
            return LmadState{};
        return Error::from_errno("reading state file " + path);
    }
    std::ostringstream text;
    text << in.rdbuf();
    const auto doc = nlohmann::json::parse(text.str(), nullptr, false);
    const auto counter = doc.is_object() ? doc.find("restart_counter") : doc.end();
    if (!doc.is_object() || counter == doc.end() || !counter->is_number_unsigned() ||
        counter->get<std::uint64_t>() > 0xffffffffull) {
        return Error{0, "state file " + path +
                            ": not a JSON object with an unsigned 32-bit \"restart_counter\""};
    }
    LmadState state;
    state.restart_counter = counter->get<std::uint32_t>();
    if (const auto peers = doc.find("peers"); peers != doc.end() && peers->is_array()) {
        for (const auto& p : *peers) {
            if (!p.is_object() || !p.contains("mag") || !p["mag"].is_string())
                continue;
            const auto mag = parse_address(p["mag"].get<std::string>());
            if (!mag)
                continue;
            StatePeer peer{*mag, {}};
            if (p.contains("lma") && p["lma"].is_string()) {
                if (const auto lma = parse_address(p["lma"].get<std::string>()))
                    peer.lma = *lma;
            }
            state.peers.push_back(peer);
        }
    }
    return state;
}

Status write_state_file(const std::string& path, const LmadState& state) {
    nlohmann::json peers = nlohmann::json::array();
    for (const auto& p : state.peers) {
        peers.push_back({{"mag", to_string(p.mag)}, {"lma", to_string(p.lma)}});
    }
    const std::string text =
        nlohmann::json{{"restart_counter", state.restart_counter}, {"peers", peers}}.dump() + "\n";

    const std::filesystem::path target(path);
    if (const auto dir = target.parent_path(); !dir.empty()) {
        std::error_code ec;
        if (!std::filesystem::is_directory(dir, ec) && ::mkdir(dir.c_str(), 0755) != 0 &&
            errno != EEXIST) {
            return Error::from_errno("creating directory " + dir.string());
        }
    }
    const std::string temporary = path + ".tmp";
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return Error::from_errno("writing state file " + temporary);
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            const Error e = Error::from_errno("writing state file " + temporary);
            ::close(fd);
            ::unlink(temporary.c_str());
            return e;
        }
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) {
        const Error e = Error::from_errno("syncing state file " + temporary);
        ::close(fd);
        ::unlink(temporary.c_str());
        return e;
    }
    ::close(fd);
    if (::rename(temporary.c_str(), path.c_str()) != 0) {
        const Error e = Error::from_errno("renaming " + temporary + " to " + path);
        ::unlink(temporary.c_str());
        return e;
    }
    return {};
}

}  // namespace pmip::lma
