// Home network prefix pools.
#include "pmip/common/prefix_pool.hpp"

namespace pmip {

namespace {

using U128 = unsigned __int128;

U128 to_u128(const Ipv6Address& a) {
    U128 v = 0;
    for (auto b : a) v = v << 8 | b;
    return v;
}

Ipv6Address from_u128(U128 v) {
    Ipv6Address a{};
    for (int i = 15; i >= 0; --i) {
        a[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v);
        v >>= 8;
    }
    return a;
}

}  // namespace

Expected<PrefixPool> PrefixPool::create(Ipv6Prefix pool, std::uint8_t delegated_length) {
    if (delegated_length > 128 || delegated_length < pool.length) {
        return Error{EINVAL, "prefix pool " + to_string(pool) + ": delegated length /" +
                                 std::to_string(delegated_length) +
                                 " must be between the pool length and 128"};
    }
    return PrefixPool(canonical(pool), delegated_length);
}

PrefixPool::PrefixPool(Ipv6Prefix pool, std::uint8_t delegated_length)
    : pool_(pool), delegated_length_(delegated_length) {
    const unsigned bits = delegated_length_ - pool_.length;
    capacity_ = bits >= 63 ? (std::uint64_t{1} << 63) : (std::uint64_t{1} << bits);
}

Ipv6Prefix PrefixPool::at(std::uint64_t index) const {
    const unsigned shift = 128u - delegated_length_;
    const U128 offset = shift >= 128 ? 0 : static_cast<U128>(index) << shift;
    return Ipv6Prefix{from_u128(to_u128(pool_.address) + offset), delegated_length_};
}

std::optional<Ipv6Prefix> PrefixPool::allocate(const InUse& in_use) {
    // Never-used prefixes first, then the released ones oldest first.
    while (next_ < capacity_) {
        const Ipv6Prefix p = at(next_++);
        if (!in_use || !in_use(p)) {
            ++allocated_;
            return p;
        }
    }
    for (std::size_t n = released_.size(); n > 0; --n) {
        const Ipv6Prefix p = released_.front();
        released_.pop_front();
        if (!in_use || !in_use(p)) {
            ++allocated_;
            return p;
        }
        released_.push_back(p);
    }
    return std::nullopt;
}

void PrefixPool::release(const Ipv6Prefix& prefix) {
    if (!owns(prefix)) return;
    released_.push_back(canonical(prefix));
    if (allocated_ > 0) --allocated_;
}

bool PrefixPool::owns(const Ipv6Prefix& prefix) const {
    return prefix.length == delegated_length_ && contains(pool_, prefix.address);
}

}  // namespace pmip
