// Sending on an IPv6 raw or datagram socket with an explicit source address
// and outgoing interface: the MH socket (PBAs go back from the address the
// PBU was sent to, RFC 5213 section 5.3.6), magd's Router Advertisements
// (from the fixed link-local of RFC 6543) and the MLD socket (link-local
// source, Hop Limit 1, RFC 3810 section 5) all need it.
//
// Threading: any thread (no state). Counters: none (callers count).
#pragma once

#include <cstdint>
#include <optional>

#include <sys/socket.h>
#include <span>

#include "pmip/common/ip.hpp"
#include "pmip/common/result.hpp"

namespace pmip {

// sendmsg() of `data` on `fd` to `destination` from `source` (IPV6_PKTINFO),
// out of `ifindex` when non-zero (also the scope of a link-local
// destination), with `hop_limit` when given (IPV6_HOPLIMIT). EINTR is
// retried; any other failure is returned with its errno and the addresses.
Status send_from(int fd, const Ipv6Address& source, const Ipv6Address& destination, int ifindex,
                 std::span<const std::uint8_t> data, std::optional<int> hop_limit = std::nullopt,
                 int flags = MSG_DONTWAIT | MSG_NOSIGNAL);

// Writes the IPV6_PKTINFO control message (source address, outgoing
// interface when non-zero) into `c`, which has CMSG_SPACE(sizeof(in6_pktinfo)).
void write_pktinfo(cmsghdr* c, const Ipv6Address& source, int ifindex);

// Sets a socket buffer size: the FORCE variant first (CAP_NET_ADMIN goes past
// net.core.[rw]mem_max), then the ordinary, capped one. `receive` chooses
// SO_RCVBUF(FORCE), else SO_SNDBUF(FORCE). Returns what the kernel set (it
// doubles the request for its bookkeeping), 0 if it cannot tell.
int set_socket_buffer(int fd, bool receive, int bytes);

}  // namespace pmip
