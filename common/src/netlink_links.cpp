// Synchronous rtnetlink device helpers over libmnl.
#include "netlink_links.hpp"

#include <libmnl/libmnl.h>
#include <net/if.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <vector>

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
    return s;
}

// Sends `message` and reads until its ACK; returns the kernel's answer.
Status transact(mnl_socket* s, nlmsghdr* message, const std::string& context,
                const mnl_cb_t data_cb = nullptr, void* data = nullptr) {
    const unsigned portid = mnl_socket_get_portid(s);
    const unsigned seq = message->nlmsg_seq;
    if (mnl_socket_sendto(s, message, message->nlmsg_len) < 0) {
        return Error::from_errno(context + ": sending netlink request");
    }
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE * 4);
    while (true) {
        const ssize_t n = mnl_socket_recvfrom(s, buf.data(), buf.size());
        if (n < 0) return Error::from_errno(context + ": reading netlink answer");
        const int r = mnl_cb_run(buf.data(), static_cast<size_t>(n), seq, portid, data_cb, data);
        if (r < 0) return Error::from_errno(context);
        if (r == MNL_CB_STOP) return {};
    }
}

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
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = RTM_GETNEIGH;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    nlh->nlmsg_seq = static_cast<std::uint32_t>(time(nullptr));
    auto* q = static_cast<ndmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ndmsg)));
    q->ndm_family = AF_INET6;
    struct Dump {
        int ifindex;
        std::vector<Ipv6Address> doomed;
    } dump{ifindex, {}};
    auto cb = [](const nlmsghdr* h, void* data) -> int {
        auto* d = static_cast<Dump*>(data);
        const auto* nd = static_cast<const ndmsg*>(mnl_nlmsg_get_payload(h));
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
    if (Status st = transact(s->get(), nlh, context, cb, &dump); !st.ok()) return st.error();
    std::size_t removed = 0;
    for (const auto& a : dump.doomed) {
        nlh = mnl_nlmsg_put_header(buf.data());
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
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = RTM_GETLINK;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    nlh->nlmsg_seq = static_cast<std::uint32_t>(time(nullptr));
    auto* ifm = static_cast<rtgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtgenmsg)));
    ifm->rtgen_family = AF_UNSPEC;
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
    if (Status st = transact(s->get(), nlh, context, cb, &names); !st.ok()) return st.error();
    return names;
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
