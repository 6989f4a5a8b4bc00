// Synchronous rtnetlink device helpers over libmnl.
#include "netlink_links.hpp"

#include <libmnl/libmnl.h>
#include <net/if.h>
#include <linux/filter.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "pmip/common/log.hpp"

namespace pmip::netlink {

namespace {

struct SocketCloser {
    void operator()(mnl_socket* s) const { mnl_socket_close(s); }
};
using Socket = std::unique_ptr<mnl_socket, SocketCloser>;

Expected<Socket> open_socket(const std::string& context) {
    Socket s(mnl_socket_open(NETLINK_ROUTE));
    if (!s) return Error::from_errno(context + ": opening netlink socket");
    if (mnl_socket_bind(s.get(), 0, MNL_SOCKET_AUTOPID) < 0) {
        return Error::from_errno(context + ": binding netlink socket");
    }
    // Optional (Linux 4.12): without it an error carries no reason.
    int one = 1;
    mnl_socket_setsockopt(s.get(), NETLINK_EXT_ACK, &one, sizeof one);
    return s;
}

// What transact() hands to libmnl's callbacks: the caller's data callback,
// and the kernel's error with its extended ACK reason once one arrives.
struct Answer {
    mnl_cb_t data_cb;
    void* data;
    int error = 0;       // errno value
    std::string reason;  // NLMSGERR_ATTR_MSG, if the kernel gave one
};

// The extended ACK message among the attributes at `offset` of `h`'s payload.
std::string ack_reason(const nlmsghdr* h, std::size_t offset) {
    if ((h->nlmsg_flags & NLM_F_ACK_TLVS) == 0 || h->nlmsg_len < NLMSG_LENGTH(offset)) return {};
    const auto* end = reinterpret_cast<const char*>(h) + h->nlmsg_len;
    const auto* attr = reinterpret_cast<const nlattr*>(
        static_cast<const char*>(mnl_nlmsg_get_payload(h)) + offset);
    for (; mnl_attr_ok(attr, static_cast<int>(end - reinterpret_cast<const char*>(attr)));
         attr = mnl_attr_next(attr)) {
        if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
            mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0) {
            return mnl_attr_get_str(attr);
        }
    }
    return {};
}

int on_data(const nlmsghdr* h, void* answer) {
    const auto* a = static_cast<Answer*>(answer);
    return a->data_cb ? a->data_cb(h, a->data) : MNL_CB_OK;
}

// NLMSG_ERROR: the ACK (error 0) or the request's failure.
int on_error(const nlmsghdr* h, void* answer) {
    auto* a = static_cast<Answer*>(answer);
    if (h->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) {
        a->error = EBADMSG;
        return MNL_CB_ERROR;
    }
    const auto* e = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(h));
    if (e->error == 0) return MNL_CB_STOP;
    a->error = std::abs(e->error);  // negative errno; some subsystems answer positive
    // The attributes follow our request's copy unless NETLINK_CAP_ACK cut it.
    std::size_t offset = sizeof(nlmsgerr);
    if ((h->nlmsg_flags & NLM_F_CAPPED) == 0) {
        offset += NLMSG_ALIGN(e->msg.nlmsg_len) - sizeof(nlmsghdr);
    }
    a->reason = ack_reason(h, offset);
    return MNL_CB_ERROR;
}

// NLMSG_DONE ends a dump and carries its result (net/netlink/af_netlink.c,
// netlink_dump(): an int, 0 or a negative errno, then the extended ACK). A
// dump the kernel refuses to start, such as a strict-checking request it
// does not accept, is answered this way and not with an NLMSG_ERROR.
// libmnl's default NLMSG_DONE callback ignores the payload, which made such a
// refusal look like an empty dump.
int on_done(const nlmsghdr* h, void* answer) {
    auto* a = static_cast<Answer*>(answer);
    int result = 0;
    if (h->nlmsg_len >= NLMSG_LENGTH(sizeof result)) {
        std::memcpy(&result, mnl_nlmsg_get_payload(h), sizeof result);
    }
    if (result >= 0) return MNL_CB_STOP;
    a->error = -result;
    a->reason = ack_reason(h, sizeof result);
    return MNL_CB_ERROR;
}

// Sends `message` and reads until its ACK (or, for a dump, its NLMSG_DONE);
// returns the kernel's answer, with its reason when it gave one.
Status transact(mnl_socket* s, nlmsghdr* message, const std::string& context,
                const mnl_cb_t data_cb = nullptr, void* data = nullptr) {
    const unsigned portid = mnl_socket_get_portid(s);
    const unsigned seq = message->nlmsg_seq;
    if (mnl_socket_sendto(s, message, message->nlmsg_len) < 0) {
        return Error::from_errno(context + ": sending netlink request");
    }
    mnl_cb_t controls[NLMSG_MIN_TYPE] = {};
    controls[NLMSG_ERROR] = on_error;
    controls[NLMSG_DONE] = on_done;
    Answer answer{data_cb, data, 0, {}};
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE * 4);
    while (true) {
        const ssize_t n = mnl_socket_recvfrom(s, buf.data(), buf.size());
        if (n < 0) return Error::from_errno(context + ": reading netlink answer");
        const int r = mnl_cb_run2(buf.data(), static_cast<size_t>(n), seq, portid, on_data,
                                  &answer, controls, MNL_ARRAY_SIZE(controls));
        if (r < 0 && answer.error != 0) {
            Error e = Error::from_errno(context, answer.error);
            if (!answer.reason.empty()) e.what += " (" + answer.reason + ")";
            return e;
        }
        if (r < 0) return Error::from_errno(context);
        if (r == MNL_CB_STOP) return {};
    }
}

// One request on `s` of `type` with `flags` (besides NLM_F_REQUEST) whose
// family header (zeroed) and attributes `fill` sets; every answer goes to `cb`.
template <typename Header, typename Fill>
Status request(mnl_socket* s, std::uint16_t type, std::uint16_t flags, Fill&& fill, const mnl_cb_t cb,
               void* data, const std::string& context) {
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = static_cast<std::uint16_t>(NLM_F_REQUEST | flags);
    // Each request its own number: on a socket used for many (one refresh's
    // route lookups), an answer left from an earlier one is refused.
    static std::atomic<std::uint32_t> next_seq{static_cast<std::uint32_t>(time(nullptr))};
    nlh->nlmsg_seq = next_seq.fetch_add(1, std::memory_order_relaxed);
    auto* header = static_cast<Header*>(mnl_nlmsg_put_extra_header(nlh, sizeof(Header)));
    fill(nlh, *header);
    return transact(s, nlh, context, cb, data);
}

// One dump on `s`: an NLM_F_DUMP request (see request()).
template <typename Header, typename Fill>
Status dump(mnl_socket* s, std::uint16_t type, Fill&& fill, const mnl_cb_t cb, void* data,
            const std::string& context) {
    return request<Header>(s, type, NLM_F_DUMP, std::forward<Fill>(fill), cb, data, context);
}

// Neighbour dumps the kernel could not filter by device; see
// flush_ipv6_neighbours().
std::atomic<std::uint64_t> unfiltered_dumps{0};
std::atomic<bool> unfiltered_logged{false};

}  // namespace

Status link_request(int type, int flags, int ifindex, unsigned ifi_flags, unsigned ifi_change,
                    const LinkMessageBuilder& build, const std::string& context) {
    auto s = open_socket(context);
    if (!s) return s.error();
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = static_cast<std::uint16_t>(type);
    nlh->nlmsg_flags = static_cast<std::uint16_t>(NLM_F_REQUEST | NLM_F_ACK | flags);
    nlh->nlmsg_seq = static_cast<std::uint32_t>(time(nullptr));
    auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
    ifm->ifi_family = AF_UNSPEC;
    ifm->ifi_index = ifindex;
    ifm->ifi_flags = ifi_flags;
    ifm->ifi_change = ifi_change;
    if (build) build(nlh);
    return transact(s->get(), nlh, context);
}

Status address_request(int type, int flags, int ifindex, const Ipv6Address& address,
                       std::uint8_t prefix_length, std::uint32_t ifa_flags,
                       const std::string& context) {
    auto s = open_socket(context);
    if (!s) return s.error();
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = static_cast<std::uint16_t>(type);
    nlh->nlmsg_flags = static_cast<std::uint16_t>(NLM_F_REQUEST | NLM_F_ACK | flags);
    nlh->nlmsg_seq = static_cast<std::uint32_t>(time(nullptr));
    auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
    ifa->ifa_family = AF_INET6;
    ifa->ifa_prefixlen = prefix_length;
    ifa->ifa_index = static_cast<unsigned>(ifindex);
    ifa->ifa_scope = 0;
    mnl_attr_put(nlh, IFA_LOCAL, 16, address.data());
    mnl_attr_put(nlh, IFA_ADDRESS, 16, address.data());
    if (ifa_flags != 0) mnl_attr_put_u32(nlh, IFA_FLAGS, ifa_flags);
    return transact(s->get(), nlh, context);
}

Expected<std::size_t> flush_ipv6_neighbours(int ifindex, const std::string& context) {
    auto s = open_socket(context);
    if (!s) return s.error();
    // Only the device's entries, please: a dump of every entry copies the
    // whole table out per call, O(N^2) over N access links coming up.
    // Linux filters a neighbour dump by the NDA_IFINDEX attribute (and
    // NDA_MASTER); strict checking (NETLINK_GET_STRICT_CHK, Linux 4.20) makes
    // it refuse a request it cannot honour instead of answering in full. The
    // device goes in NDA_IFINDEX, not in ndm_ifindex: with strict checking
    // the dump header must be all zero but ndm_family and NTF_PROXY in
    // ndm_flags (net/core/neighbour.c, neigh_valid_dump_req), and a device
    // there makes the kernel refuse the dump with EINVAL, "Invalid values in
    // header for neighbor dump request".
    int one = 1;
    if (mnl_socket_setsockopt(s->get(), NETLINK_GET_STRICT_CHK, &one, sizeof one) < 0) {
        // Older kernel (ENOPROTOOPT): it may ignore NDA_IFINDEX and answer
        // with every device's entries, which the callback below sorts out.
        const int error = errno;
        ++unfiltered_dumps;
        if (!unfiltered_logged.exchange(true)) {
            PMIP_WARNING(kNetlink, context,
                         std::string("no strict dump checking (NETLINK_GET_STRICT_CHK: ") +
                             std::strerror(error) +
                             "): neighbour dumps may list every device's entries and are "
                             "filtered here (logged once, then only counted)");
        }
    }
    struct Dump {
        int ifindex;
        std::vector<Ipv6Address> doomed;
    } dump_state{ifindex, {}};
    auto cb = [](const nlmsghdr* h, void* data) -> int {
        auto* d = static_cast<Dump*>(data);
        if (h->nlmsg_type != RTM_NEWNEIGH || h->nlmsg_len < NLMSG_LENGTH(sizeof(ndmsg)))
            return MNL_CB_OK;
        const auto* nd = static_cast<const ndmsg*>(mnl_nlmsg_get_payload(h));
        // Still checked: an unfiltered answer (see above) has every device.
        if (nd->ndm_ifindex != d->ifindex || (nd->ndm_state & (NUD_PERMANENT | NUD_NOARP)) != 0)
            return MNL_CB_OK;
        auto attr_cb = [](const nlattr* attr, void* out) -> int {
            if (mnl_attr_get_type(attr) == NDA_DST && mnl_attr_get_payload_len(attr) == 16) {
                Ipv6Address a{};
                std::memcpy(a.data(), mnl_attr_get_payload(attr), 16);
                static_cast<std::vector<Ipv6Address>*>(out)->push_back(a);
            }
            return MNL_CB_OK;
        };
        mnl_attr_parse(h, sizeof(ndmsg), attr_cb, &d->doomed);
        return MNL_CB_OK;
    };
    const Status listed = dump<ndmsg>(
        s->get(), RTM_GETNEIGH,
        [&](nlmsghdr* nlh, ndmsg& nd) {
            nd.ndm_family = AF_INET6;
            mnl_attr_put_u32(nlh, NDA_IFINDEX, static_cast<std::uint32_t>(ifindex));
        },
        cb, &dump_state, context);
    if (!listed.ok()) return listed.error();
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    std::size_t removed = 0;
    for (const auto& a : dump_state.doomed) {
        nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
        nlh->nlmsg_type = RTM_DELNEIGH;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
        nlh->nlmsg_seq = static_cast<std::uint32_t>(time(nullptr)) + static_cast<std::uint32_t>(removed) + 1;
        auto* nd = static_cast<ndmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ndmsg)));
        nd->ndm_family = AF_INET6;
        nd->ndm_ifindex = ifindex;
        mnl_attr_put(nlh, NDA_DST, 16, a.data());
        Status st = transact(s->get(), nlh, context);
        if (st.ok()) {
            ++removed;
        } else if (st.error().code != ENOENT && st.error().code != ENODEV) {
            return st.error();
        }
    }
    return removed;
}

std::uint64_t unfiltered_neighbour_dumps() {
    return unfiltered_dumps.load();
}

Status delete_link(const std::string& name) {
    const unsigned ifindex = if_nametoindex(name.c_str());
    if (ifindex == 0) return {};
    Status st = link_request(RTM_DELLINK, 0, static_cast<int>(ifindex), 0, 0, nullptr,
                             "deleting device " + name);
    if (!st.ok() && st.error().code == ENODEV) return {};
    return st;
}

Expected<std::vector<std::string>> link_names() {
    const std::string context = "listing network devices";
    auto s = open_socket(context);
    if (!s) return s.error();
    std::vector<std::string> names;
    auto cb = [](const nlmsghdr* h, void* data) -> int {
        auto attr_cb = [](const nlattr* attr, void* out) -> int {
            if (mnl_attr_get_type(attr) == IFLA_IFNAME &&
                mnl_attr_validate(attr, MNL_TYPE_STRING) >= 0) {
                static_cast<std::vector<std::string>*>(out)->emplace_back(mnl_attr_get_str(attr));
            }
            return MNL_CB_OK;
        };
        mnl_attr_parse(h, sizeof(ifinfomsg), attr_cb, data);
        return MNL_CB_OK;
    };
    const Status listed = dump<rtgenmsg>(
        s->get(), RTM_GETLINK, [](nlmsghdr*, rtgenmsg& g) { g.rtgen_family = AF_UNSPEC; }, cb,
        &names, context);
    if (!listed.ok()) return listed.error();
    return names;
}

Expected<LinkStats> link_stats(int ifindex) {
    const std::string context = "reading the counters of device " + std::to_string(ifindex);
    auto s = open_socket(context);
    if (!s) return s.error();
    std::pair<LinkStats, bool> out{};
    auto cb = [](const nlmsghdr* h, void* data) -> int {
        auto attr_cb = [](const nlattr* attr, void* o) -> int {
            // Kernels before 6.0 send 192 octets, newer headers define
            // more (rx_otherhost_dropped): the counters we read are in
            // every version's first 192 octets (a shorter answer leaves
            // rx_frame_errors 0).
            if (mnl_attr_get_type(attr) == IFLA_STATS64 &&
                mnl_attr_get_payload_len(attr) >= offsetof(rtnl_link_stats64, tx_bytes) + sizeof(__u64)) {
                rtnl_link_stats64 st{};
                std::memcpy(&st, mnl_attr_get_payload(attr),
                            std::min<std::size_t>(mnl_attr_get_payload_len(attr), sizeof st));
                auto* result = static_cast<std::pair<LinkStats, bool>*>(o);
                result->first = {st.rx_packets, st.tx_packets, st.rx_bytes, st.tx_bytes,
                                 st.rx_frame_errors};
                result->second = true;
            }
            return MNL_CB_OK;
        };
        mnl_attr_parse(h, sizeof(ifinfomsg), attr_cb, data);
        return MNL_CB_OK;
    };
    const Status asked = request<ifinfomsg>(
        s->get(), RTM_GETLINK, NLM_F_ACK,
        [ifindex](nlmsghdr*, ifinfomsg& ifm) {
            ifm.ifi_family = AF_UNSPEC;
            ifm.ifi_index = ifindex;
        },
        cb, &out, context);
    if (!asked.ok()) return asked.error();
    if (!out.second) return Error{ENODATA, context + ": no IFLA_STATS64 in the answer"};
    return out.first;
}

namespace {

// One RTM_GETROUTE on `s` (see route_output_interface).
Expected<int> output_interface_on(mnl_socket* s, const Ipv6Address& destination, const Ipv6Address* source,
                                  const std::string& context) {
    int oif = 0;
    auto cb = [](const nlmsghdr* h, void* data) -> int {
        auto attr_cb = [](const nlattr* attr, void* o) -> int {
            if (mnl_attr_get_type(attr) == RTA_OIF && mnl_attr_get_payload_len(attr) >= sizeof(std::uint32_t))
                *static_cast<int*>(o) = static_cast<int>(mnl_attr_get_u32(attr));
            return MNL_CB_OK;
        };
        mnl_attr_parse(h, sizeof(rtmsg), attr_cb, data);
        return MNL_CB_OK;
    };
    const Status asked = request<rtmsg>(
        s, RTM_GETROUTE, NLM_F_ACK,
        [&destination, source](nlmsghdr* nlh, rtmsg& rtm) {
            rtm.rtm_family = AF_INET6;
            rtm.rtm_dst_len = 128;
            mnl_attr_put(nlh, RTA_DST, 16, destination.data());
            if (source != nullptr) {
                rtm.rtm_src_len = 128;
                mnl_attr_put(nlh, RTA_SRC, 16, source->data());
            }
        },
        cb, &oif, context);
    if (!asked.ok()) return asked.error();
    if (oif == 0) return Error{ENETUNREACH, context + ": no output interface in the answer"};
    return oif;
}

}  // namespace

Expected<int> route_output_interface(const Ipv6Address& destination, const Ipv6Address* source) {
    const std::string context = "looking up the route to " + to_string(destination);
    auto s = open_socket(context);
    if (!s) return s.error();
    return output_interface_on(s->get(), destination, source, context);
}

std::vector<Expected<int>> route_output_interfaces(std::span<const RouteEnds> ends) {
    std::vector<Expected<int>> out;
    out.reserve(ends.size());
    auto s = open_socket("looking up the routes to the tunnels' peers");
    for (const RouteEnds& e : ends) {
        if (!s) {
            out.push_back(s.error());
            continue;
        }
        out.push_back(output_interface_on(s->get(), e.destination, &e.source,
                                          "looking up the route to " + to_string(e.destination)));
    }
    return out;
}

Expected<RouteChanges> RouteChanges::open(std::uint8_t ignored_protocol) {
    Fd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE));
    if (!fd.valid()) return Error::from_errno("route watch: opening netlink socket");
    // The message type is host-endian and below 256: one of its two octets
    // is 0 and the other the type, whatever the byte order, so it is the OR
    // of both. Routes (RTM_NEWROUTE, RTM_DELROUTE) of `ignored_protocol`
    // (struct rtmsg's rtm_protocol, octet 5 after the 16-octet header) are
    // dropped; everything else is kept whole.
    sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 4),
        BPF_STMT(BPF_MISC | BPF_TAX, 0),
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 5),
        BPF_STMT(BPF_ALU | BPF_OR | BPF_X, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, RTM_NEWROUTE, 1, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, RTM_DELROUTE, 0, 3),
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, sizeof(nlmsghdr) + offsetof(rtmsg, rtm_protocol)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ignored_protocol, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, 0),
        BPF_STMT(BPF_RET | BPF_K, 0xffffffff),
    };
    sock_fprog program{static_cast<unsigned short>(std::size(code)), code};
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) != 0)
        return Error::from_errno("route watch: attaching its socket filter");
    // Bursts of device and route changes (an overflow is handled); beyond
    // net.core.rmem_max where the process may (CAP_NET_ADMIN).
    int size = 1 << 20;
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
        (void)::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    sockaddr_nl address{};
    address.nl_family = AF_NETLINK;
    auto group = [](unsigned g) { return 1u << (g - 1); };  // groups 1-32
    address.nl_groups = group(RTNLGRP_IPV6_ROUTE) | group(RTNLGRP_IPV6_RULE) | group(RTNLGRP_LINK) |
                        group(RTNLGRP_TC);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
        return Error::from_errno("route watch: joining the route, rule, link and tc groups");
    // Optional (Linux 5.3): nexthop objects.
    int nexthop_group = RTNLGRP_NEXTHOP;
    (void)::setsockopt(fd.get(), SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &nexthop_group, sizeof nexthop_group);
    return RouteChanges(std::move(fd));
}

RouteChanges::Drained RouteChanges::drain(const std::function<bool(int ifindex)>& own) {
    Drained out;
    for (int reads = 0;; ++reads) {
        if (reads == kMaxReads) {
            out.more = true;
            return out;
        }
        const ssize_t n = ::recv(fd_.get(), buf_.data(), buf_.size(), MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == ENOBUFS) {
                out.overflowed = true;
                continue;
            }
            return out;  // EAGAIN: all read
        }
        if (static_cast<std::size_t>(n) > buf_.size()) {  // truncated: not parsed, so assumed a change
            out.overflowed = true;
            continue;
        }
        int left = static_cast<int>(n);
        const auto* h = reinterpret_cast<const nlmsghdr*>(buf_.data());
        for (; mnl_nlmsg_ok(h, left); h = mnl_nlmsg_next(h, &left)) {
            bool matters = true;
            switch (h->nlmsg_type) {
                case RTM_NEWROUTE:
                case RTM_DELROUTE: {
                    if (h->nlmsg_len < NLMSG_LENGTH(sizeof(rtmsg))) break;
                    const auto* rt = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(h));
                    if (rt->rtm_table == RT_TABLE_LOCAL) {
                        matters = false;
                        break;
                    }
                    const auto* end = reinterpret_cast<const char*>(h) + h->nlmsg_len;
                    for (const auto* a = reinterpret_cast<const nlattr*>(
                             static_cast<const char*>(mnl_nlmsg_get_payload(h)) + MNL_ALIGN(sizeof(rtmsg)));
                         mnl_attr_ok(a, static_cast<int>(end - reinterpret_cast<const char*>(a)));
                         a = mnl_attr_next(a)) {
                        if (h->nlmsg_type == RTM_NEWROUTE && mnl_attr_get_type(a) == RTA_OIF &&
                            mnl_attr_validate(a, MNL_TYPE_U32) >= 0 &&
                            own(static_cast<int>(mnl_attr_get_u32(a))))
                            matters = false;
                    }
                    break;
                }
                case RTM_NEWLINK:  // carrier, state (routes with linkdown may no longer count)
                case RTM_DELLINK:
                    if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(ifinfomsg)))
                        matters = !own(static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(h))->ifi_index);
                    break;
                case RTM_DELQDISC:
                case RTM_DELTFILTER:
                    if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(tcmsg)))
                        matters = !own(static_cast<const tcmsg*>(mnl_nlmsg_get_payload(h))->tcm_ifindex);
                    break;
                case RTM_NEWRULE:
                case RTM_DELRULE:
                case RTM_NEWNEXTHOP:
                case RTM_DELNEXTHOP:
                    break;
                default:  // RTM_NEWQDISC, RTM_NEWTFILTER (filters being attached), ...
                    matters = false;
            }
            ++(matters ? out.changes : out.ignored);
        }
        if (left > 0)  // a malformed tail: not parsed, so assumed a change
            out.overflowed = true;
    }
}

Expected<std::size_t> delete_links_with_prefix(const std::vector<std::string>& prefixes) {
    auto names = link_names();
    if (!names) return names.error();
    std::size_t deleted = 0;
    for (const auto& name : *names) {
        for (const auto& prefix : prefixes) {
            if (!prefix.empty() && name.rfind(prefix, 0) == 0) {
                if (Status st = delete_link(name); !st.ok()) return st.error();
                ++deleted;
                break;
            }
        }
    }
    return deleted;
}

}  // namespace pmip::netlink
