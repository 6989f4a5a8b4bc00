// UpstreamMembership: the proxy's merged membership database expressed on the
// upstream interface as host membership [RFC 4605 section 4.1: "the proxy
// device performs the host portion of MLD on the upstream interface"].
//
// Kernel implementation (DESIGN.md section 5): one unbound UDP socket whose
// per-group source filters are set on the upstream ifindex, so the kernel's
// own RFC 3810 host part sends the state-change reports (with its Robustness
// retransmissions) and answers the upstream querier's queries:
//   INCLUDE {}            -> MCAST_LEAVE_GROUP
//   INCLUDE A (new group) -> MCAST_JOIN_SOURCE_GROUP (first source; the
//                            membership starts in INCLUDE mode, so an SSM
//                            join goes upstream as ALLOW / IS_IN, never as an
//                            any-source join) then MCAST_MSFILTER INCLUDE A
//   EXCLUDE Y (new group) -> MCAST_JOIN_GROUP then, if Y is not empty,
//                            MCAST_MSFILTER EXCLUDE Y
//   any change of a joined group -> MCAST_MSFILTER with the new mode and list
// The kernel limits a filter to net.ipv6.mld_max_msf sources (64 by default):
// a larger list fails with ENOBUFS, reported with the group in the message.
// Closing the socket leaves every group.
//
// Threading: loop thread only.
#pragma once

#include <map>
#include <memory>
#include <optional>

#include "pmip/common/ip.hpp"
#include "pmip/common/result.hpp"
#include "pmip/mcast/membership.hpp"

namespace pmip::mcast {

class UpstreamMembership {
  public:
    virtual ~UpstreamMembership() = default;
    // Makes the host membership of `group` equal to `state` (INCLUDE {} = leave).
    virtual Status set(const Ipv6Address& group, const MembershipState& state) = 0;
};

// `name` is used in error messages only.
Expected<std::unique_ptr<UpstreamMembership>> make_kernel_upstream_membership(
    int ifindex, const std::string& name);

class FakeUpstreamMembership final : public UpstreamMembership {
  public:
    Status set(const Ipv6Address& group, const MembershipState& state) override;
    std::map<Ipv6Address, MembershipState> groups;  // joined groups only
    std::uint64_t calls = 0;
    std::optional<Error> fail_with;
};

}  // namespace pmip::mcast
