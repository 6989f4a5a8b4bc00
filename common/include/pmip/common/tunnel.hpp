// Tunnels between MAG and LMA (DESIGN.md section 4; RFC 5213 sections 5.6 and
// 6.10; RFC 2473 ip6ip6; RFC 2784/2890 GRE and RFC 5845 GRE keys).
//
// One tunnel per (peer, local, kind, keys), shared by every mobile node that
// uses it: acquire() creates the device on first use and counts references,
// release() drops one and deletes the device when the last goes (after an
// optional delay, so a handover back and forth does not churn devices).
// Every tunnel is a real network device, so it can carry routes, be a
// multicast interface (MIF) and an MLD link. Device names are derived from the
// key: "<prefix><kind>-<8 hex digits>" (default prefix "pm", e.g.
// "pm6-1a2b3c4d" for ip6ip6, "pmg-..." for GRE), 15 characters at most, so
// that devices a crashed daemon left behind can be found and removed.
//
// Backends (TunnelBackend): kernel (ip6tnl / ip6gre over rtnetlink),
// userspace (TUN + raw IPv6 sockets, its own data-plane thread) and ebpf
// (the userspace backend's devices with tc/eBPF encapsulation and
// decapsulation); `auto` picks the kernel when it can create the device
// types, else ebpf when its programs load, else userspace, with one warning
// per backend passed over naming the reason.
//
// Threading: loop thread only (the userspace backend's data-plane thread is
// private to it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "pmip/common/ip.hpp"
#include "pmip/common/result.hpp"
#include "pmip/common/timers.hpp"

namespace pmip {

enum class TunnelKind : std::uint8_t { kIp6Ip6, kGre };
std::string_view to_string(TunnelKind kind);

struct TunnelKey {
    Ipv6Address peer{};
    Ipv6Address local{};
    TunnelKind kind = TunnelKind::kIp6Ip6;
    // GRE keys (RFC 5845): input = the key we receive with (our downlink key
    // at a MAG), output = the key we send with. Both absent = GRE without key.
    std::optional<std::uint32_t> input_key;
    std::optional<std::uint32_t> output_key;
    auto operator<=>(const TunnelKey&) const = default;
};

// Per-tunnel data-plane counters (userspace backend: all; kernel backend:
// packets and octets, the device's own counters; drop reasons zero).
struct TunnelCounters {
    std::uint64_t tx_packets = 0, tx_bytes = 0, rx_packets = 0, rx_bytes = 0;
    std::uint64_t drop_too_big = 0;      // sent ICMPv6 Packet Too Big instead
    std::uint64_t drop_link_local = 0;   // link-local source, not MLD/ND control
    std::uint64_t drop_malformed = 0;
    std::uint64_t drop_send_error = 0;
    std::uint64_t drop_not_up = 0;       // arrived while the device was prepared, not yet up
    std::uint64_t drop_ecn = 0;          // inner Not-ECT under an outer CE (RFC 6040 4.2)
};

struct TunnelInfo {
    TunnelKey key;
    std::string name;
    int ifindex = 0;
    unsigned mtu = 0;
    unsigned references = 0;
    bool pending_delete = false;  // last reference released, delay running
    bool up = true;               // false: prepared (made ahead, down) and not yet acquired
    std::string backend;          // "kernel" | "userspace" | "ebpf" | "fake"
};

struct TunnelOptions {
    std::string name_prefix = "pm";
    unsigned path_mtu = 1500;     // tunnel MTU = path_mtu - encapsulation overhead
    std::uint8_t hop_limit = 64;  // RFC 2473 section 6.3 default
    Duration delete_delay{};      // 0 = delete at last release
    // Set by the ebpf backend for the tunnels its programs carry (never by
    // an operator): the userspace backend's bring_up() first reads and drops
    // what waits in its sockets from before, so that a packet that arrived
    // while the tunnel was down never reaches the device after packets the
    // programs carried behind it.
    bool behind_programs = false;
};

// Encapsulation overhead in octets: 40 (ip6ip6), 44 (GRE), 48 (GRE with an
// output key: the key field is in the packets we send).
unsigned tunnel_overhead(const TunnelKey& key);
// MTU of the tunnel device: path_mtu - overhead, but never below the IPv6
// minimum link MTU 1280 (RFC 2473 section 7.1 (b): the outer packet is then
// fragmented).
unsigned tunnel_mtu(const TunnelKey& key, unsigned path_mtu);
// "<prefix>6-<8 hex>" (ip6ip6) or "<prefix>g-<8 hex>" (GRE); hex = 32-bit
// FNV-1a over peer (16) | local (16) | kind (1) | input key | output key (each
// key: 1 presence octet, then 4 octets network order when present). A prefix
// longer than kMaxTunnelNamePrefix characters is cut so the name fits IFNAMSIZ.
inline constexpr std::size_t kMaxTunnelNamePrefix = 4;
std::string tunnel_device_name(const TunnelKey& key, const std::string& prefix);

// draft-asaeda's M-Tunnel (PROTOCOL.md 9.1): one tunnel per MAG-LMA pair
// dedicated to multicast data and MLD, beside the unicast tunnels (however
// many GRE keys split those per MN, multicast crosses once per MAG). It is
// GRE between the same two addresses with one key both ways, the same at
// both ends (magd and lmad [multicast] m-tunnel-key), so it is a device of
// its own next to an ip6ip6, keyless-GRE or keyed-GRE unicast tunnel; the
// daemons never give that key to an MN's session. kDynamic: made with the
// first binding that needs it and deleted after the last (with [tunnel]
// delete-delay-ms); kStatic: made at start for the configured peers and
// kept until shutdown (others as kDynamic).
enum class MulticastTunnelMode : std::uint8_t { kOff, kDynamic, kStatic };
std::string_view to_string(MulticastTunnelMode mode);
struct MulticastTunnelConfig {
    MulticastTunnelMode mode = MulticastTunnelMode::kOff;
    std::uint32_t key = 0xffffffff;  // the last key; an MN's keys count up from 1
    bool enabled() const { return mode != MulticastTunnelMode::kOff; }
};
// The M-Tunnel's key towards `peer` from `local`.
TunnelKey multicast_tunnel_key(const Ipv6Address& peer, const Ipv6Address& local, std::uint32_t gre_key);
// The next GRE key from the counter `next` (an MN's downlink key at a MAG,
// uplink key at an LMA), never 0 after wrapping and never `reserved`.
std::uint32_t next_session_gre_key(std::uint32_t& next, std::optional<std::uint32_t> reserved);

class TunnelBackend {
public:
    virtual ~TunnelBackend() = default;
    virtual std::string_view name() const = 0;  // "kernel" | "userspace" | "ebpf" | "fake"
    // Creates the device, up or (a tunnel made ahead of its PBA) down;
    // returns its ifindex. A device that is down neither sends nor delivers.
    virtual Expected<int> create(const TunnelKey& key, const std::string& device_name,
                                 const TunnelOptions& options, bool up) = 0;
    virtual Status bring_up(const TunnelKey& key, const std::string& device_name) = 0;
    virtual Status destroy(const TunnelKey& key, const std::string& device_name) = 0;
    // Deletes devices whose name starts with "<prefix>6-" or "<prefix>g-"
    // (left by a crashed run). Returns how many.
    virtual Expected<std::size_t> remove_stale(const std::string& prefix) = 0;
    virtual TunnelCounters counters(const TunnelKey&) const { return {}; }
    // Backend-wide data-plane counters by name (userspace: "unknown_peer",
    // "rx_malformed", "rx_errors"); empty for backends without a data plane.
    virtual std::map<std::string, std::uint64_t> statistics() const { return {}; }
    // How often refresh() wants to run (0: never). RefCountingTunnelManager
    // calls it that often on its timers.
    virtual Duration refresh_interval() const { return {}; }
    // Re-reads what the backend derived from the kernel's routing when its
    // tunnels were made (the ebpf backend: the underlay each tunnel's peer
    // is reached through), for routes that have moved since.
    virtual void refresh() {}
};

// Told when a tunnel device gains its first reference (made, prepared, or
// taken again during its delete delay) and when it loses its last (before
// the delete delay or the deletion). magd keeps each tunnel's policy rule
// this way (mag/tunnel_rules.hpp), whichever engine holds the tunnel.
class TunnelUseListener {
public:
    virtual ~TunnelUseListener() = default;
    // An error fails the acquire() or prepare() that took the first
    // reference: the reference is not taken, a device it made is deleted.
    virtual Status in_use(const TunnelInfo& tunnel) = 0;
    virtual void unused(const TunnelInfo& tunnel) = 0;
};

class TunnelManager {
public:
    virtual ~TunnelManager() = default;
    // At most one; nullptr for none. destroy_all() (shutdown) tells it nothing.
    virtual void set_use_listener(TunnelUseListener* listener) = 0;
    // A reference to the tunnel for forwarding: created (or brought up) now.
    virtual Expected<TunnelInfo> acquire(const TunnelKey& key) = 0;
    // A reference to the tunnel made ahead of its use (a MAG while its PBU is
    // out): created down, so nothing flows before acquire() brings it up;
    // released like any other reference.
    virtual Expected<TunnelInfo> prepare(const TunnelKey& key) = 0;
    virtual Status release(const TunnelKey& key) = 0;
    virtual std::vector<TunnelInfo> tunnels() const = 0;
    virtual std::optional<TunnelInfo> find(const TunnelKey& key) const = 0;
    virtual TunnelCounters counters(const TunnelKey& key) const = 0;
    // Deletes every device now, whatever the references (shutdown).
    virtual void destroy_all() = 0;
};

// Reference counting and delayed deletion over any backend.
class RefCountingTunnelManager final : public TunnelManager {
public:
    RefCountingTunnelManager(std::unique_ptr<TunnelBackend> backend, Timers& timers,
                             TunnelOptions options = {});
    ~RefCountingTunnelManager() override;

    void set_use_listener(TunnelUseListener* listener) override { listener_ = listener; }
    Expected<TunnelInfo> acquire(const TunnelKey& key) override;
    Expected<TunnelInfo> prepare(const TunnelKey& key) override;
    Status release(const TunnelKey& key) override;
    std::vector<TunnelInfo> tunnels() const override;
    std::optional<TunnelInfo> find(const TunnelKey& key) const override;
    TunnelCounters counters(const TunnelKey& key) const override;
    void destroy_all() override;

    TunnelBackend& backend() { return *backend_; }

private:
    Expected<TunnelInfo> reference(const TunnelKey& key, bool up);
    void schedule_refresh();

    struct Entry {
        TunnelInfo info;
        TimerId delete_timer = 0;
    };
    std::unique_ptr<TunnelBackend> backend_;
    Timers& timers_;
    TimerId refresh_timer_ = 0;
    TunnelOptions options_;
    std::map<TunnelKey, Entry> entries_;
    TunnelUseListener* listener_ = nullptr;
};

enum class TunnelBackendChoice : std::uint8_t { kAuto, kKernel, kUserspace, kEbpf };

// Builds the backend; for kAuto the first that works here of kernel (can
// the kernel create ip6tnl and ip6gre devices?), ebpf (do its tc programs
// load?) and userspace, with one warning per backend passed over naming the
// reason.
Expected<std::unique_ptr<TunnelBackend>> make_tunnel_backend(TunnelBackendChoice choice);
Expected<std::unique_ptr<TunnelBackend>> make_kernel_tunnel_backend();
Expected<std::unique_ptr<TunnelBackend>> make_userspace_tunnel_backend();
// The userspace backend's TUN devices with tc/eBPF encapsulation and
// decapsulation (common/src/ebpf_tunnel_backend.cpp); the userspace data
// plane carries what the programs leave.
Expected<std::unique_ptr<TunnelBackend>> make_ebpf_tunnel_backend();
// Why the ebpf backend is unavailable here ("" when it is available).
std::string ebpf_tunnel_unavailable_reason();
std::string_view to_string(TunnelBackendChoice choice);
// Why the kernel backend is unavailable here ("" when it is available).
std::string kernel_tunnel_unavailable_reason(TunnelKind kind);

// What `--check` says about [tunnel] backend on this machine, one line:
// "tunnels: kernel (auto: ip6tnl and ip6gre devices can be created)",
// "tunnels: userspace (auto: kernel tunnel backend unavailable: ...)", ...;
// an error when the configured backend cannot work here (kernel without
// ip6tnl/ip6gre, userspace without /dev/net/tun). Without root it judges
// nothing (the probe creates and deletes a device) and says so.
Expected<std::string> tunnel_check_note(TunnelBackendChoice choice);

// Records calls; assigns ifindexes from 1000 upwards. Can be told to fail.
class FakeTunnelBackend final : public TunnelBackend {
public:
    std::string_view name() const override { return "fake"; }
    Expected<int> create(const TunnelKey& key, const std::string& device_name,
                         const TunnelOptions& options, bool up) override;
    Status bring_up(const TunnelKey& key, const std::string& device_name) override;
    Status destroy(const TunnelKey& key, const std::string& device_name) override;
    Expected<std::size_t> remove_stale(const std::string& prefix) override;
    TunnelCounters counters(const TunnelKey& key) const override {
        const auto it = traffic.find(key);
        return it == traffic.end() ? TunnelCounters{} : it->second;
    }
    Duration refresh_interval() const override { return refresh_every; }
    void refresh() override { ++refreshes; }

    Duration refresh_every{};                  // what refresh_interval() says (tests set it)
    int refreshes = 0;                         // refresh() calls
    std::map<std::string, TunnelKey> devices;  // what exists now, by name
    std::map<TunnelKey, TunnelCounters> traffic;  // what counters() says (tests set it)
    std::set<std::string> down;                // created down, not yet brought up
    std::vector<std::string> calls;            // "create pm6-..", "create pm6-.. down", "up pm6-..", "destroy pm6-.."
    std::optional<Error> fail_create;
    std::optional<Error> fail_bring_up;
    int next_ifindex = 1000;
};

}  // namespace pmip

#include <nlohmann/json.hpp>

namespace pmip {
// The JSON form of a tunnel for the daemons' "show tunnels".
nlohmann::json tunnel_json(const TunnelInfo& info, const TunnelCounters& counters);
nlohmann::json tunnel_counters_json(const TunnelCounters& counters);
}  // namespace pmip
