// The rule "iif TUNNEL lookup main" of every tunnel device a MAG (or RFC 8885
// MAAR) has in use, at priority MagConfig::rule_priority - 1, ahead of the
// uplink's rules. What comes out of a tunnel is routed by its destination to
// the MN's access link (RFC 5213 section 6.10.5), and not by its source into
// the tunnel again: without it a packet between two MNs of one MAG (through
// the LMA, 6.10.3) met the sender's uplink rule or source route on its way
// back and looped until its hop limit ran out.
//
// It follows the tunnel's own lifetime (TunnelUseListener): added with the
// device's first reference, removed with its last, so also while the device
// waits for [tunnel] delete-delay-ms (the kernel keeps a rule that names a
// device, even a deleted one), and whichever engine holds the tunnel.
//
// Threading: the loop thread (the TunnelManager's).
// Counters: removal_errors (a failed addition fails the tunnel's acquire).
#pragma once

#include <set>
#include <string>

#include "pmip/common/route_manager.hpp"
#include "pmip/common/tunnel.hpp"

namespace pmip::mag {

class TunnelRules final : public TunnelUseListener {
public:
    TunnelRules(RouteManager& routes, std::uint32_t priority) : routes_(routes), priority_(priority) {}

    Status in_use(const TunnelInfo& tunnel) override;
    void unused(const TunnelInfo& tunnel) override;

    Rule rule(const std::string& device) const;
    const std::set<std::string>& devices() const { return devices_; }
    std::uint64_t removal_errors() const { return removal_errors_; }

private:
    RouteManager& routes_;
    std::uint32_t priority_;
    std::set<std::string> devices_;  // with a rule in the kernel
    std::uint64_t removal_errors_ = 0;
};

}  // namespace pmip::mag
