// Upstream host membership through the kernel's MLD host part
// [RFC 4605 section 4.1; RFC 3678 section 5.2 socket API]. See
// upstream_membership.hpp.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <vector>

#include "pmip/common/fd.hpp"
#include "pmip/mcast/upstream_membership.hpp"

namespace pmip::mcast {

using pmip::to_string;

namespace {

sockaddr_storage storage(const Ipv6Address& a) {
    sockaddr_storage ss{};
    auto* sa = reinterpret_cast<sockaddr_in6*>(&ss);
    sa->sin6_family = AF_INET6;
    std::memcpy(&sa->sin6_addr, a.data(), 16);
    return ss;
}

class KernelUpstreamMembership final : public UpstreamMembership {
  public:
    KernelUpstreamMembership(Fd fd, int ifindex, std::string name)
        : fd_(std::move(fd)), ifindex_(ifindex), name_(std::move(name)) {}

    Status set(const Ipv6Address& group, const MembershipState& state) override {
        const bool joined = joined_.contains(group);
        if (state.no_listeners()) {
            if (!joined)
                return {};
            group_req req{};
            req.gr_interface = static_cast<std::uint32_t>(ifindex_);
            req.gr_group = storage(group);
            joined_.erase(group);
            if (::setsockopt(fd_.get(), IPPROTO_IPV6, MCAST_LEAVE_GROUP, &req, sizeof req) != 0 &&
                errno != EADDRNOTAVAIL && errno != ENODEV) {
                return fail("MCAST_LEAVE_GROUP", group);
            }
            return {};
        }
        if (!joined) {
            if (state.mode == FilterMode::kInclude) {
                // Start in INCLUDE mode: an SSM join is never sent as ASM.
                group_source_req req{};
                req.gsr_interface = static_cast<std::uint32_t>(ifindex_);
                req.gsr_group = storage(group);
                req.gsr_source = storage(*state.sources.begin());
                if (::setsockopt(fd_.get(), IPPROTO_IPV6, MCAST_JOIN_SOURCE_GROUP, &req,
                                 sizeof req) != 0) {
                    return fail("MCAST_JOIN_SOURCE_GROUP", group);
                }
                joined_.insert(group);
                if (state.sources.size() == 1)
                    return {};
            } else {
                group_req req{};
                req.gr_interface = static_cast<std::uint32_t>(ifindex_);
                req.gr_group = storage(group);
                if (::setsockopt(fd_.get(), IPPROTO_IPV6, MCAST_JOIN_GROUP, &req, sizeof req) != 0)
                    return fail("MCAST_JOIN_GROUP", group);
                joined_.insert(group);
                if (state.sources.empty())
                    return {};
            }
        }
        // MCAST_MSFILTER: the whole filter at once (RFC 3678 section 5.2.1).
        const std::size_t n = state.sources.size();
        std::vector<std::uint8_t> buffer(GROUP_FILTER_SIZE(n ? n : 1), 0);
        auto* gf = reinterpret_cast<group_filter*>(buffer.data());
        gf->gf_interface = static_cast<std::uint32_t>(ifindex_);
        gf->gf_group = storage(group);
        gf->gf_fmode = state.mode == FilterMode::kInclude ? MCAST_INCLUDE : MCAST_EXCLUDE;
        gf->gf_numsrc = static_cast<std::uint32_t>(n);
        std::size_t i = 0;
        for (const auto& s : state.sources) gf->gf_slist[i++] = storage(s);
        if (::setsockopt(fd_.get(), IPPROTO_IPV6, MCAST_MSFILTER, gf,
                         static_cast<socklen_t>(GROUP_FILTER_SIZE(n))) != 0) {
            const int e = errno;
            std::string what = "MCAST_MSFILTER " + std::string(to_string(state.mode)) + " with " +
                               std::to_string(n) + " source(s)";
            if (e == ENOBUFS)
                what += " (over net.ipv6.mld_max_msf?)";
            errno = e;
            return fail(what, group);
        }
        return {};
    }

  private:
    Error fail(const std::string& call, const Ipv6Address& group) {
        return Error::from_errno("upstream " + name_ + " (ifindex " + std::to_string(ifindex_) +
                                 "): " + call + " " + to_string(group));
    }

    Fd fd_;
    int ifindex_;
    std::string name_;
    std::set<Ipv6Address> joined_;
};

}  // namespace

Expected<std::unique_ptr<UpstreamMembership>> make_kernel_upstream_membership(
    int ifindex, const std::string& name) {
    // Never bound: it receives no data, it only holds memberships.
    Fd fd(::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP));
    if (!fd.valid())
        return Error::from_errno("upstream " + name + ": socket(AF_INET6, SOCK_DGRAM)");
    return std::unique_ptr<UpstreamMembership>(
        std::make_unique<KernelUpstreamMembership>(std::move(fd), ifindex, name));
}

Status FakeUpstreamMembership::set(const Ipv6Address& group, const MembershipState& state) {
    ++calls;
    if (fail_with)
        return *fail_with;
    if (state.no_listeners())
        groups.erase(group);
    else
        groups[group] = state;
    return {};
}

}  // namespace pmip::mcast
