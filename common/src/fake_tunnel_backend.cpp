// FakeTunnelBackend: the in-memory TunnelBackend for tests (DESIGN.md
// section 2: every kernel touch has a fake that records what was asked).
// Keeps the devices that "exist" by name, records every call as a line
// ("create pm6-1a2b3c4d", "destroy pm6-1a2b3c4d", "remove_stale pm"), hands
// out ifindexes from next_ifindex upwards and fails create() on demand.
//
// Threading: single thread, like the manager above it. Counters: none.
#include "pmip/common/tunnel.hpp"

namespace pmip {

Expected<int> FakeTunnelBackend::create(const TunnelKey& key, const std::string& device_name,
                                        const TunnelOptions& /*options*/, bool up) {
    calls.push_back("create " + device_name + (up ? "" : " down"));
    if (fail_create)
        return *fail_create;
    if (devices.contains(device_name)) {
        return Error{EEXIST, "device " + device_name + " exists"};
    }
    devices.emplace(device_name, key);
    if (!up)
        down.insert(device_name);
    return next_ifindex++;
}

Status FakeTunnelBackend::bring_up(const TunnelKey& /*key*/, const std::string& device_name) {
    calls.push_back("up " + device_name);
    if (fail_bring_up)
        return *fail_bring_up;
    if (!devices.contains(device_name))
        return Error{ENODEV, "device " + device_name + " does not exist"};
    down.erase(device_name);
    return {};
}

Status FakeTunnelBackend::destroy(const TunnelKey& /*key*/, const std::string& device_name) {
    calls.push_back("destroy " + device_name);
    down.erase(device_name);
    if (devices.erase(device_name) == 0) {
        return Error{ENODEV, "device " + device_name + " does not exist"};
    }
    return {};
}

Expected<std::size_t> FakeTunnelBackend::remove_stale(const std::string& prefix) {
    calls.push_back("remove_stale " + prefix);
    const std::string cut = prefix.substr(0, kMaxTunnelNamePrefix);
    std::size_t removed = 0;
    for (auto it = devices.begin(); it != devices.end();) {
        const std::string& name = it->first;
        if (name.starts_with(cut + "6-") || name.starts_with(cut + "g-")) {
            it = devices.erase(it);
            ++removed;
        } else {
            ++it;
        }
    }
    return removed;
}

}  // namespace pmip
