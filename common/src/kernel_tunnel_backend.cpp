// Kernel tunnel backend: ip6tnl (RFC 2473 ip6ip6) and ip6gre (GRE over IPv6,
// RFC 2784/2890 with RFC 5845 keys) devices created over rtnetlink
// (RTM_NEWLINK with IFLA_INFO_KIND), never through ioctls on ip6tnl0.
//
// The devices are what production routers use: the kernel encapsulates and
// decapsulates at full speed. Hop limit from TunnelOptions (RFC 2473 section
// 6.3), no Tunnel Encapsulation Limit option (IP6_TNL_F_IGN_ENCAP_LIMIT) since
// RFC 5213 tunnels are not nested, traffic class and flow label 0.
//
// make_tunnel_backend() chooses a backend: for `auto` it probes whether this
// kernel can create both device kinds (a throw-away device "pmprobe<kind>")
// and falls back to the userspace backend with one warning naming the reason.
//
// Threading: loop thread (synchronous netlink requests).
// <net/if.h> before the <linux/...> headers: glibc's copy then suppresses the
// kernel's duplicate definitions of IFF_* and struct ifreq.
#include <net/if.h>
#include <netinet/in.h>
#include <linux/if_tunnel.h>
#include <linux/ip6_tunnel.h>
#include <linux/rtnetlink.h>
#include <unistd.h>

#include <map>

#include <libmnl/libmnl.h>

#include "netlink_links.hpp"
#include "pmip/common/log.hpp"
#include "pmip/common/tunnel.hpp"

namespace pmip {

namespace {

void put_link_info(nlmsghdr* nlh, const TunnelKey& key, const TunnelOptions& options) {
    nlattr* linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    if (key.kind == TunnelKind::kIp6Ip6) {
        mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "ip6tnl");
        nlattr* data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
        mnl_attr_put(nlh, IFLA_IPTUN_LOCAL, 16, key.local.data());
        mnl_attr_put(nlh, IFLA_IPTUN_REMOTE, 16, key.peer.data());
        mnl_attr_put_u8(nlh, IFLA_IPTUN_TTL, options.hop_limit);
        mnl_attr_put_u8(nlh, IFLA_IPTUN_PROTO, IPPROTO_IPV6);
        mnl_attr_put_u32(nlh, IFLA_IPTUN_FLAGS, IP6_TNL_F_IGN_ENCAP_LIMIT);
        mnl_attr_nest_end(nlh, data);
    } else {
        mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "ip6gre");
        nlattr* data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
        mnl_attr_put(nlh, IFLA_GRE_LOCAL, 16, key.local.data());
        mnl_attr_put(nlh, IFLA_GRE_REMOTE, 16, key.peer.data());
        mnl_attr_put_u8(nlh, IFLA_GRE_TTL, options.hop_limit);
        mnl_attr_put_u32(nlh, IFLA_GRE_FLAGS, IP6_TNL_F_IGN_ENCAP_LIMIT);
        if (key.input_key) {
            // GRE_KEY is already big-endian (__cpu_to_be16(0x2000) in
            // <linux/if_tunnel.h>), as IFLA_GRE_[IO]FLAGS are.
            mnl_attr_put_u16(nlh, IFLA_GRE_IFLAGS, GRE_KEY);
            mnl_attr_put_u32(nlh, IFLA_GRE_IKEY, htonl(*key.input_key));
        }
        if (key.output_key) {
            mnl_attr_put_u16(nlh, IFLA_GRE_OFLAGS, GRE_KEY);
            mnl_attr_put_u32(nlh, IFLA_GRE_OKEY, htonl(*key.output_key));
        }
        mnl_attr_nest_end(nlh, data);
    }
    mnl_attr_nest_end(nlh, linkinfo);
}

Status create_device(const TunnelKey& key, const std::string& name, const TunnelOptions& options,
                     unsigned mtu, bool up) {
    // IFF_MULTICAST: ip6tnl and ip6gre devices come up without it (TUN
    // devices have it), and MLD over the tunnel (RFC 6224: lmad queries on
    // it, magd's proxy upstream) and multicast routers such as smcroute
    // skip a device that lacks it.
    const unsigned flags = up ? unsigned{IFF_UP | IFF_MULTICAST} : unsigned{IFF_MULTICAST};
    return netlink::link_request(
        RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0, flags, IFF_UP | IFF_MULTICAST,
        [&](nlmsghdr* nlh) {
            mnl_attr_put_strz(nlh, IFLA_IFNAME, name.c_str());
            if (mtu != 0) mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
            put_link_info(nlh, key, options);
        },
        "creating " + std::string(key.kind == TunnelKind::kIp6Ip6 ? "ip6tnl" : "ip6gre") +
            " device " + name);
}

class KernelTunnelBackend final : public TunnelBackend {
public:
    std::string_view name() const override { return "kernel"; }

    Expected<int> create(const TunnelKey& key, const std::string& device_name,
                         const TunnelOptions& options, bool up) override {
        const unsigned mtu = tunnel_mtu(key, options.path_mtu);
        if (Status st = create_device(key, device_name, options, mtu, up); !st.ok()) {
            return st.error();
        }
        const unsigned ifindex = if_nametoindex(device_name.c_str());
        if (ifindex == 0) return Error::from_errno("finding device " + device_name);
        ifindexes_[key] = static_cast<int>(ifindex);
        return static_cast<int>(ifindex);
    }

    Status bring_up(const TunnelKey&, const std::string& device_name) override {
        const unsigned ifindex = if_nametoindex(device_name.c_str());
        if (ifindex == 0) return Error::from_errno("finding device " + device_name);
        return netlink::link_request(RTM_NEWLINK, 0, static_cast<int>(ifindex), IFF_UP, IFF_UP, nullptr,
                                     "bringing up " + device_name);
    }

    Status destroy(const TunnelKey& key, const std::string& device_name) override {
        ifindexes_.erase(key);
        return netlink::delete_link(device_name);
    }

    // The device's own counters (the kernel counts). Of the drop reasons
    // only ECN's: ip6tnl and ip6gre count an inner Not-ECT packet under an
    // outer CE, which they drop as RFC 6040 section 4.2 says, in
    // rx_frame_errors and nowhere else.
    TunnelCounters counters(const TunnelKey& key) const override {
        const auto it = ifindexes_.find(key);
        if (it == ifindexes_.end()) return {};
        const auto stats = netlink::link_stats(it->second);
        if (!stats) return {};
        TunnelCounters c;
        c.rx_packets = stats->rx_packets;
        c.tx_packets = stats->tx_packets;
        c.rx_bytes = stats->rx_bytes;
        c.tx_bytes = stats->tx_bytes;
        c.drop_ecn = stats->rx_frame_errors;
        return c;
    }

    Expected<std::size_t> remove_stale(const std::string& prefix) override {
        const std::string cut = prefix.substr(0, kMaxTunnelNamePrefix);
        if (cut.empty()) return Error{EINVAL, "empty tunnel name prefix"};
        return netlink::delete_links_with_prefix({cut + "6-", cut + "g-"});
    }

private:
    std::map<TunnelKey, int> ifindexes_;  // the devices we made
};

}  // namespace

std::string kernel_tunnel_unavailable_reason(TunnelKind kind) {
    TunnelKey probe;
    probe.kind = kind;
    probe.local = Ipv6Address{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    probe.peer = Ipv6Address{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    const std::string name =
        std::string("pmprobe") + (kind == TunnelKind::kIp6Ip6 ? "6" : "g") +
        std::to_string(::getpid() % 10000);
    TunnelOptions options;
    const Status st = netlink::link_request(
        RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0, 0, 0,
        [&](nlmsghdr* nlh) {
            mnl_attr_put_strz(nlh, IFLA_IFNAME, name.c_str());
            put_link_info(nlh, probe, options);
        },
        "probing");
    if (st.ok()) {
        (void)netlink::delete_link(name);
        return "";
    }
    const char* device = kind == TunnelKind::kIp6Ip6 ? "ip6tnl" : "ip6gre";
    if (st.error().code == EOPNOTSUPP) {
        return std::string("this kernel cannot create ") + device +
               " devices (no ip6_tunnel/ip6_gre support: Operation not supported)";
    }
    if (st.error().code == EPERM) {
        return std::string("not permitted to create ") + device +
               " devices (needs CAP_NET_ADMIN)";
    }
    return std::string("cannot create ") + device + " devices: " + st.error().what;
}

Expected<std::unique_ptr<TunnelBackend>> make_kernel_tunnel_backend() {
    for (TunnelKind kind : {TunnelKind::kIp6Ip6, TunnelKind::kGre}) {
        if (const std::string reason = kernel_tunnel_unavailable_reason(kind); !reason.empty()) {
            return Error{EOPNOTSUPP, "kernel tunnel backend unavailable: " + reason};
        }
    }
    return std::unique_ptr<TunnelBackend>(std::make_unique<KernelTunnelBackend>());
}

Expected<std::unique_ptr<TunnelBackend>> make_tunnel_backend(TunnelBackendChoice choice) {
    switch (choice) {
        case TunnelBackendChoice::kKernel:
            return make_kernel_tunnel_backend();
        case TunnelBackendChoice::kUserspace:
            return make_userspace_tunnel_backend();
        case TunnelBackendChoice::kEbpf:
            return make_ebpf_tunnel_backend();
        case TunnelBackendChoice::kAuto:
            break;
    }
    auto kernel = make_kernel_tunnel_backend();
    if (kernel) return kernel;
    auto ebpf = make_ebpf_tunnel_backend();
    if (ebpf) {
        PMIP_WARNING(kTunnel, "[tunnel]", kernel.error().what + "; using the ebpf tunnel backend");
        return ebpf;
    }
    PMIP_WARNING(kTunnel, "[tunnel]", kernel.error().what + "; " + ebpf.error().what +
                                          "; using the userspace (TUN) tunnel backend");
    return make_userspace_tunnel_backend();
}

std::string_view to_string(TunnelBackendChoice choice) {
    switch (choice) {
        case TunnelBackendChoice::kAuto: return "auto";
        case TunnelBackendChoice::kKernel: return "kernel";
        case TunnelBackendChoice::kUserspace: return "userspace";
        case TunnelBackendChoice::kEbpf: return "ebpf";
    }
    return "?";
}

Expected<std::string> tunnel_check_note(TunnelBackendChoice choice) {
    const std::string configured(to_string(choice));
    if (choice == TunnelBackendChoice::kUserspace) {
        if (::access("/dev/net/tun", R_OK | W_OK) != 0)
            return Error::from_errno("tunnel.backend userspace: /dev/net/tun");
        return std::string("tunnels: userspace (configured)");
    }
    if (::geteuid() != 0)
        return "tunnels: " + configured +
               " (not probed: --check without root; the daemon says which backend at start)";
    if (choice == TunnelBackendChoice::kEbpf) {
        if (const std::string ebpf = ebpf_tunnel_unavailable_reason(); !ebpf.empty())
            return Error{EOPNOTSUPP, "tunnel.backend ebpf: " + ebpf};
        return std::string("tunnels: ebpf (configured: its tc programs load)");
    }
    std::string reason;
    for (TunnelKind kind : {TunnelKind::kIp6Ip6, TunnelKind::kGre}) {
        if (reason.empty())
            reason = kernel_tunnel_unavailable_reason(kind);
    }
    if (reason.empty())
        return "tunnels: kernel (" + configured + ": ip6tnl and ip6gre devices can be created)";
    if (choice == TunnelBackendChoice::kKernel)
        return Error{EOPNOTSUPP, "tunnel.backend kernel: " + reason};
    const std::string ebpf = ebpf_tunnel_unavailable_reason();
    if (ebpf.empty())
        return "tunnels: ebpf (auto: kernel tunnel backend unavailable: " + reason + ")";
    return "tunnels: userspace (auto: kernel tunnel backend unavailable: " + reason + "; ebpf: " + ebpf + ")";
}

}  // namespace pmip
