// The ebpf tunnel backend ([tunnel] backend = ebpf; issue 20): the
// userspace backend's TUN devices and data plane, with tc/eBPF programs
// (common/bpf/tunnel.bpf.c) carrying the common packets in the kernel.
//
// - Each tunnel is the userspace backend's TUN device (routes, MLD and
//   multicast forwarding see an ordinary device); pmip_tun_encap on its
//   clsact egress encapsulates what the kernel sends into it and redirects
//   it to the underlay; what the program leaves goes on into the TUN queue,
//   where the userspace data plane handles it as before (link-local sources:
//   MLD and ND; Packet Too Big; outer fragmentation; no route).
// - pmip_tun_decap (pmip_l3_decap on an L3 device: TUN, WireGuard, raw-IP
//   modems, ip6tnl) on the clsact ingress of each underlay (the interface of
//   the kernel's route to a tunnel's peer, found when the tunnel is made)
//   strips the outer headers of the tunnels' packets and has the
//   TUN device receive the inner packet; what it leaves reaches the stack and
//   the userspace backend's raw sockets (unknown peers and keys counted there,
//   GRE options). It merges the outer ECN field into the inner one as RFC
//   6040 section 4.2 says (dropping, counted, what the table drops).
//   Every 2 s (refresh()) the routes to the peers are read again: a route
//   that moved to another interface gets the filter there too.
// - A tunnel whose peer is reached through neither an Ethernet nor an L3
//   interface (PPP, whose driver adds its own header), or
//   whose local address is unspecified, is carried by the userspace data
//   plane alone (logged, counted in `slow_path_tunnels` while it is so), until
//   a refresh finds its peer's route through one: the programs then take it
//   over (`ebpf_tunnels_taken_over`).
// Counters: the userspace backend's plus the programs' per-tunnel packets and
// octets (per-CPU map); statistics() adds the programs' ebpf_* counters.
// Leftovers of a killed run: the TUN devices (and the egress filters on them)
// go with remove_stale(), which also detaches the decapsulation filters
// (kFilterHandle / kFilterPriority, program pmip_tun_decap or pmip_l3_decap)
// from every link. A clsact qdisc made on an underlay stays: other filters
// may hang on it.
//
// Threading: loop thread (the userspace data plane has its own thread).
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "../bpf/tunnel.h"
#include "netlink_links.hpp"
#include "pmip/common/bpf_object.hpp"
#include "pmip/common/fd.hpp"
#include "pmip/common/log.hpp"
#include "pmip/common/route_manager.hpp"
#include "pmip/common/tunnel.hpp"

extern const unsigned char pmip_tunnel_object[];
extern const std::size_t pmip_tunnel_object_size;

namespace pmip {

namespace {

static_assert(sizeof(pmip_tun_encap) == 48);
static_assert(sizeof(pmip_tun_decap_key) == 40);
static_assert(sizeof(pmip_tun_decap) == 8);

// How often the routes to the tunnels' peers are read again (refresh())
// where no route watch could be opened; with one, how often its socket is
// read, the routes being read again only after a change it reported, or
// after kFullRefresh without one (a change the watch cannot see: a
// filter's program replaced by hand).
constexpr Duration kUnderlayRefresh = std::chrono::seconds(2);
constexpr Duration kWatchInterval = std::chrono::milliseconds(100);
constexpr Duration kFullRefresh = std::chrono::seconds(30);
// Under a stream of changes (a routing daemon loading a table) the routes
// are read again at most this often.
constexpr Duration kMinReread = std::chrono::milliseconds(500);

// The filters' place on a clsact hook: the decapsulation filter runs before
// the multicast forwarding filter (priority 0x5213) on a shared underlay.
constexpr std::uint32_t kFilterHandle = 0x5214;
constexpr std::uint32_t kFilterPriority = 0x5212;

const char* const kStatNames[PMIP_TUN_STAT_COUNT] = {
    "ebpf_tx_slow_path", "ebpf_tx_no_route",  "ebpf_tx_frag_needed", "ebpf_tx_encap_errors",
    "ebpf_tx_neighbour", "ebpf_rx_slow_path", "ebpf_rx_decap_errors", "ebpf_rx_not_up",
};

std::uint8_t ip_protocol(TunnelKind kind) { return kind == TunnelKind::kGre ? 47 : 41; }

// What pmip_tun_encap writes for the tunnel `key` (GRE keys in network order).
pmip_tun_encap encap_entry(const TunnelKey& key, const TunnelOptions& options) {
    pmip_tun_encap e{};
    std::memcpy(e.local, key.local.data(), 16);
    std::memcpy(e.peer, key.peer.data(), 16);
    e.protocol = ip_protocol(key.kind);
    if (key.kind == TunnelKind::kGre && key.output_key) {
        e.has_output_key = 1;
        e.output_key = htonl(*key.output_key);
    }
    e.mtu = tunnel_mtu(key, options.path_mtu);
    e.hop_limit = options.hop_limit;
    return e;
}

// What pmip_tun_decap looks up for the tunnel `key`.
pmip_tun_decap_key decap_key(const TunnelKey& key) {
    pmip_tun_decap_key k{};
    std::memcpy(k.peer, key.peer.data(), 16);
    std::memcpy(k.local, key.local.data(), 16);
    k.protocol = ip_protocol(key.kind);
    if (key.kind == TunnelKind::kGre && key.input_key) {
        k.has_input_key = 1;
        k.input_key = htonl(*key.input_key);
    }
    return k;
}

Status attach(int prog_fd, int ifindex, bpf_tc_attach_point point, const std::string& what) {
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
    LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE,
                .handle = kFilterHandle, .priority = kFilterPriority);
    if (const int rc = bpf_tc_attach(&hook, &opts); rc != 0)
        return Error::from_errno("attaching the " + what + " program to ifindex " + std::to_string(ifindex), -rc);
    return {};
}

void detach(int ifindex, bpf_tc_attach_point point) {
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
    LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kFilterHandle, .priority = kFilterPriority);
    (void)bpf_tc_detach(&hook, &opts);
}

class EbpfTunnelBackend final : public TunnelBackend {
public:
    EbpfTunnelBackend(std::unique_ptr<TunnelBackend> slow, bpf::Object object)
        : slow_(std::move(slow)), object_(std::move(object)) {
        auto fd = [this](const char* name) { return bpf_map__fd(bpf_object__find_map_by_name(object_.get(), name)); };
        encap_ = fd("encap");
        decap_ = fd("decap");
        underlays_ = fd("underlays");
        counters_ = fd("counters");
        stats_ = fd("stats");
        encap_prog_ = bpf_program__fd(bpf_object__find_program_by_name(object_.get(), PMIP_TUN_ENCAP_PROG_NAME));
        for (const auto& [kind, name] : {std::pair{PMIP_UNDERLAY_ETHERNET, PMIP_TUN_DECAP_PROG_NAME},
                                         std::pair{PMIP_UNDERLAY_L3, PMIP_TUN_DECAP_L3_PROG_NAME}}) {
            DecapProgram& p = decap_programs_[kind];
            p.fd = bpf_program__fd(bpf_object__find_program_by_name(object_.get(), name));
            bpf_prog_info info{};
            __u32 length = sizeof info;
            if (bpf_obj_get_info_by_fd(p.fd, &info, &length) == 0)
                p.id = info.id;
        }
        cpus_ = libbpf_num_possible_cpus();
        control_ = Fd(::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        if (auto watch = netlink::RouteChanges::open(kDefaultProtocol); watch) {
            watch_.emplace(std::move(*watch));
        } else {
            PMIP_WARNING(kTunnel, "[tunnel]",
                         watch.error().what + ": routes to the tunnels' peers are read every " +
                             std::to_string(std::chrono::duration_cast<std::chrono::seconds>(kUnderlayRefresh).count()) +
                             " s instead");
        }
    }

    ~EbpfTunnelBackend() override {
        for (const auto& [ifindex, kind] : underlays_attached_) detach(ifindex, BPF_TC_INGRESS);
    }

    std::string_view name() const override { return "ebpf"; }

    // A tunnel the programs carry is made down and programmed before it
    // comes up: were the userspace data plane to take it first, what the peer
    // already sends (a handover's first downlink packets, at the MAG's PBA)
    // would be decapsulated there until the programs' entry is written, and
    // reach the device tens of microseconds after packets the programs carry
    // behind them (reordered). Until it is up, the decapsulation program
    // drops its packets (ebpf_rx_not_up); the programs' entry goes up before
    // the data plane does (bring_up). Any failure undoes it all (destroy).
    Expected<int> create(const TunnelKey& key, const std::string& device_name, const TunnelOptions& options,
                         bool up) override {
        const std::string ctx = "[tunnel " + device_name + "]";
        std::string why_slow;
        Underlay underlay;
        if (is_unspecified(key.local)) {
            why_slow = "its local address is unspecified";
        } else if (auto oif = netlink::route_output_interface(key.peer, &key.local); !oif) {
            why_slow = oif.error().what;
        } else if (auto kind = underlay_kind(*oif); !kind) {
            why_slow = "the route to its peer leaves through ifindex " + std::to_string(*oif) +
                       ", neither an Ethernet nor an L3 interface the programs serve";
        } else {
            underlay = {*oif, *kind};
        }
        if (!why_slow.empty()) {
            auto made = slow_->create(key, device_name, options, up);
            if (!made)
                return made;
            PMIP_WARNING(kTunnel, ctx,
                         "carried by the userspace data plane until the route to its peer leaves "
                         "through an interface the programs serve: " + why_slow);
            tunnels_[key] = Entry{*made, false, up, options, device_name};
            tunnel_ifindexes_.insert(*made);
            return made;
        }
        TunnelOptions behind = options;
        behind.behind_programs = true;
        auto made = slow_->create(key, device_name, behind, /*up=*/false);
        if (!made)
            return made;
        const int ifindex = *made;
        tunnels_[key] = Entry{ifindex, true, /*up=*/false, options, device_name};  // bring_up sets it
        tunnel_ifindexes_.insert(ifindex);
        Status st = program(key, ifindex, options, underlay, /*up=*/false);
        if (!st.ok()) {
            st = Error{st.error().code, ctx + " " + st.error().what};
        } else if (up) {
            st = bring_up(key, device_name);  // its errors name the tunnel
        }
        if (!st.ok()) {
            (void)destroy(key, device_name);
            return st.error();
        }
        return ifindex;
    }

    // The programs' entry first, then the device and the userspace data
    // plane: what arrives in between reaches a device that is still down and
    // is dropped there (its rx_dropped), never the data plane (see create).
    // What the programs leave to the data plane (GRE options)
    // and what waited in its sockets is dropped until the data plane has
    // drained them, within one of its wake-ups: rare packets, accepted for
    // never reordering the common ones. A tunnel the programs do not carry
    // comes up in the data plane at once (nothing to reorder against).
    Status bring_up(const TunnelKey& key, const std::string& device_name) override {
        const auto it = tunnels_.find(key);
        if (it == tunnels_.end())
            return slow_->bring_up(key, device_name);
        if (!it->second.programmed) {
            Status st = slow_->bring_up(key, device_name);
            it->second.up = st.ok();
            return st;
        }
        if (Status st = set_decap(key, it->second.ifindex, true); !st.ok())
            return Error{st.error().code, "[tunnel " + device_name + "] " + st.error().what};
        if (Status st = slow_->bring_up(key, device_name); !st.ok()) {
            (void)set_decap(key, it->second.ifindex, false);
            return st;
        }
        it->second.up = true;
        return {};
    }

    Status destroy(const TunnelKey& key, const std::string& device_name) override {
        if (const auto it = tunnels_.find(key); it != tunnels_.end()) {
            if (it->second.programmed)
                unprogram(key, it->second.ifindex);
            tunnel_ifindexes_.erase(it->second.ifindex);
            destroyed_ifindexes_.insert(it->second.ifindex);  // its deletion's notifications: not a change
            tunnels_.erase(it);
        }
        return slow_->destroy(key, device_name);
    }

    Expected<std::size_t> remove_stale(const std::string& prefix) override {
        auto removed = slow_->remove_stale(prefix);
        for (const char* program : {PMIP_TUN_DECAP_PROG_NAME, PMIP_TUN_DECAP_L3_PROG_NAME})
            (void)bpf::remove_leftover_ingress_filters(kFilterHandle, kFilterPriority, program);
        return removed;
    }

    TunnelCounters counters(const TunnelKey& key) const override {
        TunnelCounters c = slow_->counters(key);
        const auto it = tunnels_.find(key);
        if (it == tunnels_.end() || !it->second.programmed)
            return c;
        std::vector<pmip_tun_counters> per_cpu(static_cast<std::size_t>(cpus_ > 0 ? cpus_ : 1));
        const std::uint32_t ifindex = static_cast<std::uint32_t>(it->second.ifindex);
        if (bpf_map_lookup_elem(counters_, &ifindex, per_cpu.data()) != 0)
            return c;
        for (const auto& v : per_cpu) {
            c.tx_packets += v.tx_packets;
            c.tx_bytes += v.tx_bytes;
            c.rx_packets += v.rx_packets;
            c.rx_bytes += v.rx_bytes;
            c.drop_ecn += v.rx_dropped_ecn;
        }
        return c;
    }

    // Routes move (an uplink fails over, a routing protocol changes its
    // mind): a tunnel whose peer is now reached through another interface
    // the programs serve gets the decapsulation filter there too, and that
    // interface becomes one the encapsulation program may send to. Until
    // then both directions of its tunnels take the userspace data plane
    // (what is sent counted as ebpf_tx_no_route), slower but never lost. An
    // underlay whose filter is gone (its device deleted, its index now
    // another device's, its clsact qdisc deleted by hand) gets it again, or
    // is forgotten when no device of its kind has its index. A tunnel made
    // while its peer was reached through no interface the programs serve
    // (no route yet, a PPP uplink) is taken over by the programs once the
    // route leaves through one (take_over).
    // Routes are watched (netlink::RouteChanges): a change is followed within
    // kWatchInterval, and an idle router asks no route at all between
    // changes but every kFullRefresh.
    Duration refresh_interval() const override { return watch_ ? kWatchInterval : kUnderlayRefresh; }

    void refresh() override {
        const TimePoint now = std::chrono::steady_clock::now();
        if (watch_) {
            const auto seen = watch_->drain([this](int ifindex) {
                return tunnel_ifindexes_.contains(ifindex) || destroyed_ifindexes_.contains(ifindex);
            });
            destroyed_ifindexes_.clear();
            route_changes_ += seen.changes;
            route_watch_overflows_ += seen.overflowed ? 1 : 0;
            changed_ = changed_ || seen.changes > 0 || seen.overflowed || seen.more;
            const Duration since = now - last_full_refresh_;
            // What failed at the last read (a filter, a take-over) is tried
            // again every kUnderlayRefresh, as before the watch.
            if (changed_ && since >= kMinReread) {
                ++refreshes_on_change_;
            } else if (since >= kFullRefresh || (retry_failures_ && since >= kUnderlayRefresh)) {
                ++refreshes_periodic_;
            } else {
                return;
            }
        } else {
            ++refreshes_periodic_;
        }
        changed_ = false;
        last_full_refresh_ = now;
        read_routes_again();
    }

    void read_routes_again() {
        for (auto it = underlays_attached_.begin(); it != underlays_attached_.end();) {
            const Underlay u{it->first, it->second};
            if (filter_present(u)) {
                ++it;
                continue;
            }
            if (underlay_kind(u.ifindex) == u.kind && attach_underlay(u).ok()) {
                PMIP_INFO(kTunnel, "[tunnel]",
                          "eBPF decapsulation on ifindex " + std::to_string(u.ifindex) + " again (its filter was gone)");
                ++it;
                continue;
            }
            const std::uint32_t index = static_cast<std::uint32_t>(u.ifindex);
            (void)bpf_map_delete_elem(underlays_, &index);
            PMIP_INFO(kTunnel, "[tunnel]", "underlay ifindex " + std::to_string(u.ifindex) + " is gone");
            it = underlays_attached_.erase(it);
        }
        // Each (local, peer) once, as the program asks the FIB, over one
        // netlink socket.
        struct Carried {
            bool programmed = false, unprogrammed = false;  // some tunnel of the pair is / is not
        };
        std::map<std::pair<Ipv6Address, Ipv6Address>, Carried> ends;
        for (const auto& [key, entry] : tunnels_) {
            if (is_unspecified(key.local))
                continue;
            Carried& c = ends[{key.local, key.peer}];
            (entry.programmed ? c.programmed : c.unprogrammed) = true;
        }
        std::vector<netlink::RouteEnds> asked;
        for (const auto& [end, carried] : ends)
            asked.push_back({end.first, end.second});
        const auto routes = netlink::route_output_interfaces(asked);
        std::map<int, std::optional<std::uint32_t>> kinds;  // each interface asked once
        std::set<int> failing;
        for (std::size_t i = 0; i < asked.size(); ++i) {
            const Ipv6Address& local = asked[i].source;
            const Ipv6Address& peer = asked[i].destination;
            const Carried& carried = ends[{local, peer}];
            const auto& oif = routes[i];
            if (!oif)
                continue;
            if (!kinds.contains(*oif))
                kinds[*oif] = underlay_kind(*oif);
            if (!kinds[*oif])
                continue;
            const Underlay underlay{*oif, *kinds[*oif]};
            // The filter first, for the programmed tunnels whose route moved
            // and the unprogrammed ones alike (an attach that failed is
            // tried again at the next refresh, warned once per spell).
            if (!underlays_attached_.contains(*oif)) {
                if (failing.contains(*oif))
                    continue;
                const std::string why = "the route to " + to_string(peer) + " now leaves there";
                if (Status st = use_underlay(underlay, why); !st.ok()) {
                    failing.insert(*oif);
                    if (!underlays_failed_.contains(*oif)) {
                        ++underlay_errors_;  // once per interface and failure spell
                        PMIP_WARNING(kTunnel, "[tunnel]",
                                     "the route to " + to_string(peer) + " leaves through ifindex " +
                                         std::to_string(*oif) + ", but its decapsulation filter failed: " +
                                         st.error().what + " (the userspace data plane carries its tunnels)");
                    }
                    continue;
                }
                if (carried.programmed)
                    ++underlays_moved_;
            }
            if (carried.unprogrammed)
                take_over(local, peer, underlay);
        }
        underlays_failed_ = std::move(failing);
        // Found once per read (not per tick): a tunnel deleted since only
        // costs an early read.
        retry_failures_ = !underlays_failed_.empty() ||
                          std::any_of(tunnels_.begin(), tunnels_.end(),
                                      [](const auto& t) { return t.second.take_over_failed; });
    }

    std::map<std::string, std::uint64_t> statistics() const override {
        auto out = slow_->statistics();
        std::vector<std::uint64_t> per_cpu(static_cast<std::size_t>(cpus_ > 0 ? cpus_ : 1));
        for (std::uint32_t i = 0; i < PMIP_TUN_STAT_COUNT; ++i) {
            std::uint64_t sum = 0;
            if (bpf_map_lookup_elem(stats_, &i, per_cpu.data()) == 0)
                for (std::uint64_t v : per_cpu) sum += v;
            out[kStatNames[i]] = sum;
        }
        std::uint64_t slow = 0;
        for (const auto& [key, entry] : tunnels_) slow += entry.programmed ? 0 : 1;
        out["slow_path_tunnels"] = slow;
        out["ebpf_tunnels_taken_over"] = taken_over_;
        out["ebpf_take_over_errors"] = take_over_errors_;
        out["ebpf_underlays"] = underlays_attached_.size();
        out["ebpf_underlays_added_for_moved_routes"] = underlays_moved_;
        out["ebpf_underlay_errors"] = underlay_errors_;
        out["ebpf_route_watch"] = watch_ ? 1 : 0;
        out["ebpf_route_changes_seen"] = route_changes_;
        out["ebpf_route_watch_overflows"] = route_watch_overflows_;
        out["ebpf_route_rereads_on_change"] = refreshes_on_change_;
        out["ebpf_route_rereads_periodic"] = refreshes_periodic_;
        return out;
    }

private:
    struct Underlay {
        int ifindex = 0;
        std::uint32_t kind = PMIP_UNDERLAY_ETHERNET;
    };

    struct Entry {
        int ifindex = 0;
        bool programmed = false;  // false: the userspace data plane alone
        bool up = false;
        TunnelOptions options;  // as made (take_over programs with them)
        std::string device_name;
        bool take_over_failed = false;  // warned once
    };

    // The tunnels between `local` and `peer` that the userspace data plane
    // alone carries, now that the route to the peer leaves through
    // `underlay`, an interface the programs serve (its filter attached):
    // programmed, their decapsulation entry as the tunnel is, up or not.
    // Unlike a tunnel made programmed, such a tunnel is not behind the
    // programs in the userspace data plane (TunnelOptions::behind_programs):
    // what that plane still holds in its sockets when the programs take
    // over (or, for a tunnel taken over while down, when it comes up) may
    // reach the device after packets the programs carry: a few, once per
    // route change.
    void take_over(const Ipv6Address& local, const Ipv6Address& peer, const Underlay& underlay) {
        for (auto& [key, entry] : tunnels_) {
            if (entry.programmed || key.local != local || key.peer != peer)
                continue;
            const std::string ctx = "[tunnel " + entry.device_name + "]";
            Status st = program(key, entry.ifindex, entry.options, underlay, entry.up);
            if (!st.ok()) {
                unprogram(key, entry.ifindex);
                detach(entry.ifindex, BPF_TC_EGRESS);
                if (!entry.take_over_failed) {
                    ++take_over_errors_;
                    PMIP_WARNING(kTunnel, ctx,
                                 "the route to its peer now leaves through ifindex " +
                                     std::to_string(underlay.ifindex) + ", but programming it failed: " +
                                     st.error().what + " (the userspace data plane carries it)");
                }
                entry.take_over_failed = true;
                continue;
            }
            entry.programmed = true;
            entry.take_over_failed = false;
            ++taken_over_;
            PMIP_INFO(kTunnel, ctx,
                      "now carried by the eBPF programs: the route to its peer leaves through ifindex " +
                          std::to_string(underlay.ifindex));
        }
    }

    // What the programs make of the interface `ifindex` as an underlay:
    // Ethernet, an L3 device (no link-layer header: TUN, WireGuard, a raw-IP
    // modem, an ip6tnl tunnel), or nothing they serve (nullopt: our own
    // tunnels, other link layers; PPP too, untested: no PPP link to test on).
    std::optional<std::uint32_t> underlay_kind(int ifindex) const {
        if (tunnel_ifindexes_.contains(ifindex))
            return std::nullopt;
        ifreq request{};
        request.ifr_ifindex = ifindex;
        if (::ioctl(control_.get(), SIOCGIFNAME, &request) != 0)
            return std::nullopt;
        if (::ioctl(control_.get(), SIOCGIFHWADDR, &request) != 0)
            return std::nullopt;
        switch (request.ifr_hwaddr.sa_family) {
        case ARPHRD_ETHER:
            return PMIP_UNDERLAY_ETHERNET;
        case ARPHRD_NONE:
        case ARPHRD_RAWIP:
        case ARPHRD_TUNNEL6:
            return PMIP_UNDERLAY_L3;
        default:
            return std::nullopt;
        }
    }

    // The tunnel's programs, its decapsulation entry `up` or not.
    Status program(const TunnelKey& key, int ifindex, const TunnelOptions& options, const Underlay& underlay,
                   bool up) {
        const std::uint32_t index = static_cast<std::uint32_t>(ifindex);
        std::vector<pmip_tun_counters> zero(static_cast<std::size_t>(cpus_ > 0 ? cpus_ : 1));
        if (bpf_map_update_elem(counters_, &index, zero.data(), BPF_ANY) != 0)
            return Error::from_errno("counters entry");
        const pmip_tun_encap encap = encap_entry(key, options);
        if (bpf_map_update_elem(encap_, &index, &encap, BPF_ANY) != 0)
            return Error::from_errno("encapsulation entry");
        // The device is new (no traffic yet): its clsact now costs nothing.
        if (auto made = bpf::ensure_clsact(ifindex); !made)
            return made.error();
        if (Status st = attach(encap_prog_, ifindex, BPF_TC_EGRESS, "encapsulation"); !st.ok())
            return st;
        if (!underlays_attached_.contains(underlay.ifindex)) {
            if (Status st = use_underlay(underlay, "a tunnel's peer is reached there"); !st.ok())
                return st;
        }
        return set_decap(key, ifindex, up);
    }

    Status set_decap(const TunnelKey& key, int ifindex, bool up) {
        const pmip_tun_decap_key k = decap_key(key);
        const pmip_tun_decap value{static_cast<std::uint32_t>(ifindex), up ? 1u : 0u};
        if (bpf_map_update_elem(decap_, &k, &value, BPF_ANY) != 0)
            return Error::from_errno("decapsulation entry");
        return {};
    }

    // The decapsulation filter on an underlay, then its entry in
    // `underlays`: the encapsulation program sends only where what comes
    // back is decapsulated too (a failure leaves neither).
    Status attach_underlay(const Underlay& underlay) {
        if (auto made = bpf::ensure_clsact(underlay.ifindex); !made)
            return made.error();
        if (Status st = attach(decap_programs_.at(underlay.kind).fd, underlay.ifindex, BPF_TC_INGRESS,
                               "decapsulation");
            !st.ok())
            return st;
        const std::uint32_t index = static_cast<std::uint32_t>(underlay.ifindex);
        if (bpf_map_update_elem(underlays_, &index, &underlay.kind, BPF_ANY) != 0) {
            Error error = Error::from_errno("underlay entry");
            detach(underlay.ifindex, BPF_TC_INGRESS);
            return error;
        }
        return {};
    }

    // A new underlay: its filter and map entry (attach_underlay), kept until
    // the backend goes, logged with `why`.
    Status use_underlay(const Underlay& underlay, const std::string& why) {
        if (Status st = attach_underlay(underlay); !st.ok())
            return st;
        underlays_attached_[underlay.ifindex] = underlay.kind;
        PMIP_INFO(kTunnel, "[tunnel]",
                  std::string("eBPF decapsulation on ") +
                      (underlay.kind == PMIP_UNDERLAY_L3 ? "L3 " : "Ethernet ") + "ifindex " +
                      std::to_string(underlay.ifindex) + ": " + why);
        return {};
    }

    // Whether our decapsulation filter for its kind is on the underlay's ingress.
    bool filter_present(const Underlay& underlay) const {
        LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = underlay.ifindex, .attach_point = BPF_TC_INGRESS);
        LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kFilterHandle, .priority = kFilterPriority);
        return bpf_tc_query(&hook, &opts) == 0 && opts.prog_id == decap_programs_.at(underlay.kind).id;
    }

    // Undoes program() (also a partial one). The underlay keeps its filter
    // and map entry while the backend lives (no filter churn per handover).
    void unprogram(const TunnelKey& key, int ifindex) {
        const std::uint32_t index = static_cast<std::uint32_t>(ifindex);
        const pmip_tun_decap_key k = decap_key(key);
        (void)bpf_map_delete_elem(decap_, &k);
        (void)bpf_map_delete_elem(encap_, &index);
        (void)bpf_map_delete_elem(counters_, &index);
    }

    std::unique_ptr<TunnelBackend> slow_;
    bpf::Object object_;
    int encap_ = -1, decap_ = -1, underlays_ = -1, counters_ = -1, stats_ = -1;
    int encap_prog_ = -1;
    struct DecapProgram {
        int fd = -1;
        __u32 id = 0;  // what bpf_tc_query reports for our filter
    };
    std::map<std::uint32_t, DecapProgram> decap_programs_;  // by underlay kind (PMIP_UNDERLAY_*)
    int cpus_ = 1;
    Fd control_;
    std::map<TunnelKey, Entry> tunnels_;
    std::set<int> tunnel_ifindexes_;  // the tunnels' own devices: never an underlay
    std::map<int, std::uint32_t> underlays_attached_;  // ifindex -> kind, with the filter, until the backend goes
    std::set<int> underlays_failed_;    // refresh() could not attach at its last run (warned once)
    std::uint64_t taken_over_ = 0, take_over_errors_ = 0;
    std::uint64_t underlays_moved_ = 0, underlay_errors_ = 0;
    std::optional<netlink::RouteChanges> watch_;  // none: every kUnderlayRefresh
    std::set<int> destroyed_ifindexes_;           // since the watch was last read
    bool changed_ = false;                        // reported, not yet read again (kMinReread)
    bool retry_failures_ = false;                 // the last read left a filter or take-over failed
    TimePoint last_full_refresh_ = std::chrono::steady_clock::now();
    std::uint64_t route_changes_ = 0, route_watch_overflows_ = 0;
    std::uint64_t refreshes_on_change_ = 0, refreshes_periodic_ = 0;
};

}  // namespace

std::string ebpf_tunnel_unavailable_reason() {
    auto object = bpf::load_embedded(pmip_tunnel_object, pmip_tunnel_object_size, "pmip_tunnel");
    if (!object)
        return object.error().what;
    if (::access("/dev/net/tun", R_OK | W_OK) != 0)
        return "/dev/net/tun: " + std::string(std::strerror(errno));
    return "";
}

Expected<std::unique_ptr<TunnelBackend>> make_ebpf_tunnel_backend() {
    auto object = bpf::load_embedded(pmip_tunnel_object, pmip_tunnel_object_size, "pmip_tunnel");
    if (!object)
        return Error{object.error().code, "ebpf tunnel backend unavailable: " + object.error().what};
    auto slow = make_userspace_tunnel_backend();
    if (!slow)
        return Error{slow.error().code, "ebpf tunnel backend unavailable: " + slow.error().what};
    return std::unique_ptr<TunnelBackend>(std::make_unique<EbpfTunnelBackend>(std::move(*slow), std::move(*object)));
}

}  // namespace pmip
