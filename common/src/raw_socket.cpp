// sendmsg with IPV6_PKTINFO / IPV6_HOPLIMIT. See raw_socket.hpp.
#include "pmip/common/raw_socket.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace pmip {

void write_pktinfo(cmsghdr* c, const Ipv6Address& source, int ifindex) {
    c->cmsg_level = IPPROTO_IPV6;
    c->cmsg_type = IPV6_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(in6_pktinfo));
    in6_pktinfo info{};
    std::memcpy(&info.ipi6_addr, source.data(), 16);
    info.ipi6_ifindex = static_cast<unsigned>(ifindex);
    std::memcpy(CMSG_DATA(c), &info, sizeof info);
}

Status send_from(int fd, const Ipv6Address& source, const Ipv6Address& destination, int ifindex,
                 std::span<const std::uint8_t> data, std::optional<int> hop_limit, int flags) {
    sockaddr_in6 to{};
    to.sin6_family = AF_INET6;
    std::memcpy(&to.sin6_addr, destination.data(), 16);
    to.sin6_scope_id = static_cast<std::uint32_t>(ifindex);
    iovec iov{const_cast<std::uint8_t*>(data.data()), data.size()};
    alignas(cmsghdr) std::uint8_t control[CMSG_SPACE(sizeof(in6_pktinfo)) + CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_name = &to;
    msg.msg_namelen = sizeof to;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = hop_limit ? sizeof control : CMSG_SPACE(sizeof(in6_pktinfo));
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    write_pktinfo(c, source, ifindex);
    if (hop_limit) {
        c = CMSG_NXTHDR(&msg, c);
        c->cmsg_level = IPPROTO_IPV6;
        c->cmsg_type = IPV6_HOPLIMIT;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &*hop_limit, sizeof(int));
    }
    for (;;) {
        if (::sendmsg(fd, &msg, flags) >= 0)
            return {};
        if (errno != EINTR)
            break;
    }
    return Error::from_errno("sendmsg from " + to_string(source) + " to " + to_string(destination) +
                             (ifindex ? " on ifindex " + std::to_string(ifindex) : std::string()));
}

int set_socket_buffer(int fd, bool receive, int bytes) {
    const int force = receive ? SO_RCVBUFFORCE : SO_SNDBUFFORCE;
    const int plain = receive ? SO_RCVBUF : SO_SNDBUF;
    if (::setsockopt(fd, SOL_SOCKET, force, &bytes, sizeof bytes) != 0)
        (void)::setsockopt(fd, SOL_SOCKET, plain, &bytes, sizeof bytes);
    int actual = 0;
    socklen_t length = sizeof actual;
    if (::getsockopt(fd, SOL_SOCKET, plain, &actual, &length) != 0) return 0;
    return actual;
}

}  // namespace pmip
