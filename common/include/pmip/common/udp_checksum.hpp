// Completing a UDP checksum that a sender's checksum offload left partial.
//
// Linux sends UDP with the checksum "partial" when the device offers to
// finish it (veth, most NICs): the checksum field holds only the one's
// complement sum of the pseudo-header [RFC 8200 section 8.1] and the device
// adds the rest as it transmits, or a receiver in the same host trusts the
// packet's metadata. A copy of such a packet's octets taken before that
// happened (the ebpf multicast backend's held packets, read from its ring
// buffer) is sent again as a new packet without that metadata: receivers
// check it and drop it. So before such a copy leaves, its checksum is
// completed, as the kernel does for a device that cannot (skb_checksum_help).
//
// Pure function, no state.
#pragma once

#include <cstdint>
#include <span>

namespace pmip {

// For an IPv6 packet carrying UDP (after any Hop-by-Hop, Destination Options
// or Routing headers): when its checksum does not verify and the field holds
// exactly the pseudo-header's sum (the partial form), writes the complete
// checksum [RFC 768; RFC 8200 section 8.1: zero sent as 0xffff] and returns
// true. Anything else is left as it is and returns false: a checksum that
// verifies, a wrong one that is not the partial form (a corrupt packet stays
// corrupt: the receiver drops it, as it would have), a zero checksum, a
// fragment, a truncated packet, another protocol.
bool complete_partial_udp_checksum(std::span<std::uint8_t> packet);

}  // namespace pmip
