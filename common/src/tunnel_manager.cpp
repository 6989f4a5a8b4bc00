// RefCountingTunnelManager: one tunnel device per TunnelKey, shared by every
// mobile node that uses it (RFC 5213 sections 5.6.1 and 6.10: one tunnel per
// MAG-LMA pair, deleted when no binding uses it), with an optional delay
// before deletion so that a handover back and forth does not churn devices.
// Also the naming and overhead helpers of tunnel.hpp.
//
// Overhead: 40 octets of outer IPv6 header (RFC 2473 section 6.7), plus 4 of
// GRE base header (RFC 2784) and 4 more when we send with a key (RFC 2890,
// RFC 5845).
//
// Threading: loop thread only; timers come from the caller's Timers.
// Counters: none of its own; counters() asks the backend.
#include <cstdio>

#include "pmip/common/log.hpp"
#include "pmip/common/tunnel.hpp"

namespace pmip {

namespace {

constexpr unsigned kIpv6HeaderSize = 40;
constexpr unsigned kGreBaseHeaderSize = 4;
constexpr unsigned kGreKeySize = 4;
constexpr unsigned kMinimumLinkMtu = 1280;  // RFC 8200 section 5

std::string describe(const TunnelKey& key) {
    std::string text = std::string(to_string(key.kind)) + " " + to_string(key.local) + " -> " +
                       to_string(key.peer);
    if (key.input_key)
        text += " ikey " + std::to_string(*key.input_key);
    if (key.output_key)
        text += " okey " + std::to_string(*key.output_key);
    return text;
}

}  // namespace

std::string_view to_string(TunnelKind kind) {
    switch (kind) {
        case TunnelKind::kIp6Ip6:
            return "ip6ip6";
        case TunnelKind::kGre:
            return "gre";
    }
    return "unknown";
}

unsigned tunnel_overhead(const TunnelKey& key) {
    if (key.kind == TunnelKind::kIp6Ip6)
        return kIpv6HeaderSize;
    return kIpv6HeaderSize + kGreBaseHeaderSize + (key.output_key ? kGreKeySize : 0);
}

std::string_view to_string(MulticastTunnelMode mode) {
    switch (mode) {
        case MulticastTunnelMode::kOff: return "off";
        case MulticastTunnelMode::kDynamic: return "dynamic";
        case MulticastTunnelMode::kStatic: return "static";
    }
    return "?";
}

TunnelKey multicast_tunnel_key(const Ipv6Address& peer, const Ipv6Address& local, std::uint32_t gre_key) {
    return TunnelKey{peer, local, TunnelKind::kGre, gre_key, gre_key};
}

std::uint32_t next_session_gre_key(std::uint32_t& next, std::optional<std::uint32_t> reserved) {
    for (;;) {
        const std::uint32_t key = next++;
        if (key != 0 && (!reserved || key != *reserved))
            return key;
    }
}

unsigned tunnel_mtu(const TunnelKey& key, unsigned path_mtu) {
    const unsigned overhead = tunnel_overhead(key);
    return path_mtu > overhead + kMinimumLinkMtu ? path_mtu - overhead : kMinimumLinkMtu;
}

std::string tunnel_device_name(const TunnelKey& key, const std::string& prefix) {
    // 32-bit FNV-1a (offset basis 2166136261, prime 16777619).
    std::uint32_t hash = 2166136261u;
    auto feed = [&hash](std::uint8_t octet) {
        hash ^= octet;
        hash *= 16777619u;
    };
    for (auto octet : key.peer) feed(octet);
    for (auto octet : key.local) feed(octet);
    feed(static_cast<std::uint8_t>(key.kind));
    for (const auto& gre_key : {key.input_key, key.output_key}) {
        feed(gre_key ? 1 : 0);
        if (gre_key) {
            for (int shift = 24; shift >= 0; shift -= 8) {
                feed(static_cast<std::uint8_t>(*gre_key >> shift));
            }
        }
    }
    char hex[9];
    std::snprintf(hex, sizeof hex, "%08x", hash);
    return prefix.substr(0, kMaxTunnelNamePrefix) +
           (key.kind == TunnelKind::kIp6Ip6 ? "6-" : "g-") + hex;
}

RefCountingTunnelManager::RefCountingTunnelManager(std::unique_ptr<TunnelBackend> backend,
                                                   Timers& timers, TunnelOptions options)
    : backend_(std::move(backend)), timers_(timers), options_(std::move(options)) {}

RefCountingTunnelManager::~RefCountingTunnelManager() {
    destroy_all();
}

// The backend's periodic refresh (its refresh_interval), only while tunnels
// exist: armed with the first, it stops at the first tick that finds none (an
// idle daemon is not woken for nothing).
void RefCountingTunnelManager::schedule_refresh() {
    const Duration interval = backend_->refresh_interval();
    if (refresh_timer_ != 0 || interval <= Duration::zero())
        return;
    refresh_timer_ = timers_.start_timer(interval, [this] {
        refresh_timer_ = 0;
        if (entries_.empty())
            return;
        backend_->refresh();
        schedule_refresh();
    });
}

Expected<TunnelInfo> RefCountingTunnelManager::acquire(const TunnelKey& key) {
    return reference(key, true);
}

Expected<TunnelInfo> RefCountingTunnelManager::prepare(const TunnelKey& key) {
    return reference(key, false);
}

// acquire (up) or prepare (down if new): a prepared device comes up with its
// first acquire and stays up until deleted.
Expected<TunnelInfo> RefCountingTunnelManager::reference(const TunnelKey& key, bool up) {
    if (auto it = entries_.find(key); it != entries_.end()) {
        Entry& entry = it->second;
        const bool first = entry.info.references == 0 && listener_ != nullptr;  // in its delete delay
        if (first) {
            if (Status st = listener_->in_use(entry.info); !st.ok())
                return Error{st.error().code, "tunnel " + entry.info.name + ": " + st.error().what};
        }
        if (up && !entry.info.up) {
            if (Status st = backend_->bring_up(key, entry.info.name); !st.ok()) {
                if (first)
                    listener_->unused(entry.info);
                return Error{st.error().code,
                             "bringing up prepared tunnel " + entry.info.name + ": " + st.error().what};
            }
            entry.info.up = true;
            PMIP_DEBUG(kTunnel, "[tunnel " + entry.info.name + "]", "prepared device brought up");
        }
        if (entry.info.pending_delete) {
            timers_.cancel_timer(entry.delete_timer);
            entry.delete_timer = 0;
            entry.info.pending_delete = false;
            PMIP_DEBUG(kTunnel, "[tunnel " + entry.info.name + "]",
                       "re-acquired during the delete delay; kept");
        }
        ++entry.info.references;
        return entry.info;
    }
    if (key.kind == TunnelKind::kIp6Ip6 && (key.input_key || key.output_key)) {
        return Error{EINVAL, "GRE keys given for an ip6ip6 tunnel " + describe(key)};
    }
    const std::string name = tunnel_device_name(key, options_.name_prefix);
    auto ifindex = backend_->create(key, name, options_, up);
    if (!ifindex) {
        return Error{ifindex.error().code, "creating tunnel " + name + " (" + describe(key) +
                                               "): " + ifindex.error().what};
    }
    Entry entry;
    entry.info.key = key;
    entry.info.name = name;
    entry.info.ifindex = *ifindex;
    entry.info.mtu = tunnel_mtu(key, options_.path_mtu);
    entry.info.references = 1;
    entry.info.up = up;
    entry.info.backend = std::string(backend_->name());
    if (listener_ != nullptr) {
        if (Status st = listener_->in_use(entry.info); !st.ok()) {
            if (Status gone = backend_->destroy(key, name); !gone.ok())
                PMIP_WARNING(kTunnel, "[tunnel " + name + "]", "deleting after a failed start failed: " +
                                                                 gone.error().what);
            return Error{st.error().code, "tunnel " + name + ": " + st.error().what};
        }
    }
    PMIP_INFO(kTunnel, "[tunnel " + name + "]",
              std::string(up ? "created " : "prepared (down) ") + describe(key) + " ifindex " +
                  std::to_string(*ifindex) + " mtu " + std::to_string(entry.info.mtu) + " (" +
                  entry.info.backend + ")");
    auto [it, inserted] = entries_.emplace(key, std::move(entry));
    (void)inserted;
    schedule_refresh();
    return it->second.info;
}

Status RefCountingTunnelManager::release(const TunnelKey& key) {
    auto it = entries_.find(key);
    if (it == entries_.end()) {
        return Error{ENOENT, "release of unknown tunnel " + describe(key)};
    }
    Entry& entry = it->second;
    if (entry.info.references == 0) {
        return Error{EINVAL, "release of tunnel " + entry.info.name + " with no references left"};
    }
    if (--entry.info.references > 0)
        return {};
    if (listener_ != nullptr)
        listener_->unused(entry.info);

    if (options_.delete_delay > Duration::zero()) {
        entry.info.pending_delete = true;
        entry.delete_timer = timers_.start_timer(options_.delete_delay, [this, key] {
            auto found = entries_.find(key);
            if (found == entries_.end() || !found->second.info.pending_delete)
                return;
            const std::string name = found->second.info.name;
            entries_.erase(found);
            if (auto status = backend_->destroy(key, name); !status) {
                PMIP_WARNING(kTunnel, "[tunnel " + name + "]",
                             "deleting after the delay failed: " + status.error().what);
            } else {
                PMIP_INFO(kTunnel, "[tunnel " + name + "]", "deleted (delay expired)");
            }
        });
        return {};
    }
    const std::string name = entry.info.name;
    entries_.erase(it);
    Status status = backend_->destroy(key, name);
    if (status)
        PMIP_INFO(kTunnel, "[tunnel " + name + "]", "deleted (last reference released)");
    return status;
}

std::vector<TunnelInfo> RefCountingTunnelManager::tunnels() const {
    std::vector<TunnelInfo> out;
    out.reserve(entries_.size());
    for (const auto& [key, entry] : entries_) out.push_back(entry.info);
    return out;
}

std::optional<TunnelInfo> RefCountingTunnelManager::find(const TunnelKey& key) const {
    auto it = entries_.find(key);
    if (it == entries_.end())
        return std::nullopt;
    return it->second.info;
}

TunnelCounters RefCountingTunnelManager::counters(const TunnelKey& key) const {
    if (!entries_.contains(key))
        return {};
    return backend_->counters(key);
}

void RefCountingTunnelManager::destroy_all() {
    auto entries = std::move(entries_);
    entries_.clear();
    if (refresh_timer_ != 0) {
        timers_.cancel_timer(refresh_timer_);
        refresh_timer_ = 0;
    }
    for (auto& [key, entry] : entries) {
        if (entry.delete_timer != 0)
            timers_.cancel_timer(entry.delete_timer);
        if (auto status = backend_->destroy(key, entry.info.name); !status) {
            PMIP_WARNING(kTunnel, "[tunnel " + entry.info.name + "]",
                         "deleting at shutdown failed: " + status.error().what);
        }
    }
}

}  // namespace pmip
