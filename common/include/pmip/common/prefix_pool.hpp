// Home network prefix pools [RFC 5213 section 5.3.2, step "allocate one or
// more unused prefixes"; PROTOCOL.md section 2.10 (a)].
//
// A pool is a prefix split into prefixes of a delegated length (for example
// 2001:db8:8000::/33 into /64s). allocate() hands out the lowest never-used
// index first, then released ones (most recently released last, so a prefix
// is not reused at once), skipping any the caller says is still bound (static
// prefixes from the policy store live in the same space). Memory: a counter
// plus the list of released prefixes.
//
// Threading: loop thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>

#include "pmip/common/ip.hpp"
#include "pmip/common/result.hpp"

namespace pmip {

class PrefixPool {
public:
    // Fails when delegated_length < pool.length or > 128.
    static Expected<PrefixPool> create(Ipv6Prefix pool, std::uint8_t delegated_length);

    using InUse = std::function<bool(const Ipv6Prefix&)>;
    std::optional<Ipv6Prefix> allocate(const InUse& in_use);
    void release(const Ipv6Prefix& prefix);
    // True when `prefix` is one of this pool's delegated prefixes.
    bool owns(const Ipv6Prefix& prefix) const;

    const Ipv6Prefix& pool() const { return pool_; }
    std::uint8_t delegated_length() const { return delegated_length_; }
    // Number of delegated prefixes (saturates at 2^63).
    std::uint64_t capacity() const { return capacity_; }
    std::uint64_t allocated() const { return allocated_; }

private:
    PrefixPool(Ipv6Prefix pool, std::uint8_t delegated_length);
    Ipv6Prefix at(std::uint64_t index) const;

    Ipv6Prefix pool_;
    std::uint8_t delegated_length_;
    std::uint64_t capacity_;
    std::uint64_t next_ = 0;
    std::uint64_t allocated_ = 0;
    std::deque<Ipv6Prefix> released_;
};

}  // namespace pmip
