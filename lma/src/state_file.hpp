// lmad's persistent state: the RFC 5847 Restart Counter and the MAGs that had
// bindings, kept across restarts in one small JSON file.
//
// RFC 5847 section 3.2 / 5.2: the Restart Counter is incremented on every
// restart that loses PMIPv6 state and must survive reboots; after losing state
// a node SHOULD send unsolicited Heartbeat Responses (U=1) with the new value
// to its peers, so MAGs learn of the restart and re-register. lmad always
// loses its Binding Cache on restart, so it increments at every start.
//
//   {"restart_counter": 7, "peers": [{"mag": "2001:db8:100::11", "lma": "2001:db8:100::1"}]}
//
// Written atomically (temporary file in the same directory, fsync, rename),
// so a crash leaves either the old or the new file. The peer list is written
// only when the set of MAGs with bindings changes, which keeps it cheap.
//
// Threading: loop thread only. Counters: none.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pmip/common/ip.hpp"
#include "pmip/common/result.hpp"

namespace pmip::lma {

struct StatePeer {
    Ipv6Address mag{};
    Ipv6Address lma{};  // our address the MAG's bindings used
    bool operator==(const StatePeer&) const = default;
};

struct LmadState {
    std::uint32_t restart_counter = 0;
    std::vector<StatePeer> peers;
};

// Reads `path`. A missing file is an empty state (counter 0), not an error; a
// file that exists but does not parse is an error naming it.
Expected<LmadState> read_state_file(const std::string& path);
// Writes `state` to `path` atomically; creates the directory (one level).
Status write_state_file(const std::string& path, const LmadState& state);

}  // namespace pmip::lma
