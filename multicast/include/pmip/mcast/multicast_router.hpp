// MulticastRouter: the multicast forwarding table of one proxy instance
// behind a narrow interface, with an in-memory fake. Two kernel backends:
// "kernel", one IPv6 multicast routing table (Linux ip6mr, the MRT6 socket
// API, described here), and "ebpf", tc programs and BPF maps
// (ebpf_multicast_router.hpp), which needs no ip6mr, has no 32-interface
// limit and also holds (*,G) entries.
//
// DESIGN.md section 5: each proxy instance owns its own table. The kernel
// implementation opens one raw ICMPv6 socket, selects the table with
// MRT6_TABLE *before* MRT6_INIT (a socket is bound to its table at MRT6_INIT),
// adds MIFs (MRT6_ADD_MIF, at most MAXMIFS = 32 per table, each on a device
// with ifindex <= 65535: mif6ctl.mif6c_pifi is 16 bits) and (S,G) entries
// (MRT6_ADD_MFC replaces an existing (S,G) whatever its parent;
// MRT6_DEL_MFC). The kernel reports cache misses on that socket as struct
// mrt6msg with im6_mbz == 0 (MRT6MSG_NOCACHE: data for an (S,G) without an
// entry arrived on a MIF; the kernel queues up to 3 packets per unresolved
// entry for 10 s and sends them once the entry is added). ICMP6_FILTER blocks
// every ICMPv6 type on this socket: upcalls are queued to the socket
// directly (ip6mr_cache_report -> sock_queue_rcv_skb) and bypass the filter,
// so everything read is an upcall. Closing the socket (MRT6_DONE) makes the
// kernel remove every MIF and every non-static entry of the table; the
// destructor also deletes them one by one first so a failure is visible.
// An empty table object stays in the kernel until the namespace goes
// (ip6mr has no call that frees a table); it holds nothing.
//
// Packet counters per entry come from ioctl SIOCGETSGCNT_IN6 (used to expire
// idle entries).
//
// Threading: loop thread only. Errors name the syscall and the object:
// "MRT6 table 100: MRT6_ADD_MIF 1 (d1, ifindex 7): Address in use".
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "pmip/common/ip.hpp"
#include "pmip/common/result.hpp"
#include "pmip/mcast/membership.hpp"

namespace pmip {
class EventLoop;
}

namespace pmip::mcast {

using MifIndex = std::uint16_t;
inline constexpr MifIndex kMaxMifs = 32;  // MAXMIFS in <linux/mroute6.h>

// A set of MIF indexes as a bitmap (the kernel's if_set is one too): copy,
// compare and subset in O(MIFs / 64), so replacing a whole entry's outputs
// costs the same whatever the number of listening links.
class MifSet {
  public:
    MifSet() = default;
    MifSet(std::initializer_list<MifIndex> mifs) {
        for (MifIndex m : mifs) insert(m);
    }
    void insert(MifIndex mif) {
        const std::size_t w = mif / 64;
        if (w >= words_.size())
            words_.resize(w + 1, 0);
        words_[w] |= std::uint64_t{1} << (mif % 64);
    }
    void erase(MifIndex mif) {
        const std::size_t w = mif / 64;
        if (w >= words_.size())
            return;
        words_[w] &= ~(std::uint64_t{1} << (mif % 64));
        while (!words_.empty() && words_.back() == 0) words_.pop_back();
    }
    bool contains(MifIndex mif) const {
        const std::size_t w = mif / 64;
        return w < words_.size() && (words_[w] >> (mif % 64)) & 1;
    }
    bool empty() const { return words_.empty(); }
    void clear() { words_.clear(); }
    std::size_t size() const {
        std::size_t n = 0;
        for (auto w : words_) n += static_cast<std::size_t>(__builtin_popcountll(w));
        return n;
    }
    bool is_subset_of(const MifSet& other) const {
        for (std::size_t i = 0; i < words_.size(); ++i) {
            const std::uint64_t o = i < other.words_.size() ? other.words_[i] : 0;
            if (words_[i] & ~o)
                return false;
        }
        return true;
    }
    // Calls f(mif) for every member in ascending order.
    template <typename F>
    void for_each(F&& f) const {
        for (std::size_t i = 0; i < words_.size(); ++i) {
            for (std::uint64_t w = words_[i]; w != 0; w &= w - 1)
                f(static_cast<MifIndex>(i * 64 + static_cast<std::size_t>(__builtin_ctzll(w))));
        }
    }
    std::vector<MifIndex> list() const {
        std::vector<MifIndex> out;
        for_each([&](MifIndex m) { out.push_back(m); });
        return out;
    }
    bool operator==(const MifSet&) const = default;  // no trailing zero words kept

  private:
    std::vector<std::uint64_t> words_;
};

// An (S,G) forwarding entry: packets from `source` to `group` arriving on
// MIF `parent` go out on every MIF in `outputs`.
struct MfcEntry {
    Ipv6Address source{};
    Ipv6Address group{};
    MifIndex parent = 0;
    MifSet outputs;
    bool operator==(const MfcEntry&) const = default;
};

struct MfcCounters {
    std::uint64_t packets = 0;  // arrived on the entry's parent (forwarded)
    std::uint64_t bytes = 0;
    std::uint64_t wrong_interface = 0;  // arrived on another interface (dropped)
};

// A kernel upcall (struct mrt6msg).
enum class UpcallType : std::uint8_t {
    kNoCache = 1,        // MRT6MSG_NOCACHE
    kWrongMif = 2,       // MRT6MSG_WRONGMIF (only with MRT6_ASSERT, which we never set)
    kWholePacket = 3,    // MRT6MSG_WHOLEPKT (PIM register; never asked for)
    kWrongMifWhole = 4,  // MRT6MSG_WRMIFWHOLE
};
struct Upcall {
    std::uint8_t type = 0;  // UpcallType value as received (unknown values kept)
    MifIndex mif = 0;
    Ipv6Address source{};
    Ipv6Address group{};
};

class MulticastRouter {
  public:
    using UpcallHandler = std::function<void(const Upcall&)>;
    virtual ~MulticastRouter() = default;

    virtual std::uint32_t table() const = 0;
    // "kernel" (ip6mr), "ebpf" or "fake": for logs, --check and show.
    virtual const char* backend() const = 0;
    // Interfaces (MIFs) one table holds, the upstream included.
    virtual std::size_t max_mifs() const = 0;
    // Whether packets reach the table only through ip6mr rules ("iif IF
    // lookup TABLE", one per interface); the ebpf backend sees them directly.
    virtual bool needs_ip6mr_rules() const = 0;
    // `name` only for error messages.
    virtual Status add_mif(MifIndex mif, int ifindex, const std::string& name) = 0;
    virtual Status delete_mif(MifIndex mif) = 0;
    // Adds or replaces the (S,G) entry: packets arriving on MIF `parent` go
    // out on `outputs`.
    virtual Status add_mfc(const Ipv6Address& source, const Ipv6Address& group, MifIndex parent,
                           const MifSet& outputs) = 0;
    virtual Status delete_mfc(const Ipv6Address& source, const Ipv6Address& group) = 0;
    // Kernel packet counters of the entry; nullopt when it is not installed.
    virtual std::optional<MfcCounters> counters(const Ipv6Address& source,
                                                const Ipv6Address& group) = 0;
    // Upcalls arrive on the loop thread.
    virtual void set_upcall_handler(UpcallHandler handler) = 0;

    // (*,G) entries: data of G from any source without its own (S,G) entry,
    // arriving on `parent`, goes out on `outputs`, from the first packet (no
    // upcall first). Only backends that return true here hold them (ip6mr
    // has (*,G) only for PIM); the others answer EOPNOTSUPP.
    virtual bool supports_group_entries() const { return false; }
    virtual Status add_group_entry(const Ipv6Address& group, MifIndex parent,
                                   const MifSet& outputs);
    virtual Status delete_group_entry(const Ipv6Address& group);
    // Backend counters and limits for show (empty object when none).
    virtual nlohmann::json show() const { return nlohmann::json::object(); }
};

// Why this kernel cannot do IPv6 multicast routing (ip6mr), or nullopt when
// it can: getsockopt(MRT6_VERSION) on a raw ICMPv6 socket, which has no side
// effect and fails with ENOPROTOOPT when the kernel was built without
// CONFIG_IPV6_MROUTE (the socket itself needs CAP_NET_RAW). E.g. "kernel
// without IPv6 multicast routing (CONFIG_IPV6_MROUTE): MRT6_VERSION:
// Protocol not available".
std::optional<std::string> ip6mr_unavailable_reason();

// The MRT6 socket of table `table` (1..2^32-2; 254 is the default table that
// the "from all lookup main" ip6mr rule uses). Fails when the kernel lacks
// CONFIG_IPV6_MROUTE(_MULTIPLE_TABLES) or the table already has a socket
// (EADDRINUSE: another router owns it).
Expected<std::unique_ptr<MulticastRouter>> make_kernel_multicast_router(EventLoop& loop,
                                                                        std::uint32_t table);

// Keeps MIFs and entries in maps; tests inject upcalls with upcall().
class FakeMulticastRouter final : public MulticastRouter {
  public:
    explicit FakeMulticastRouter(std::uint32_t table = 100) : table_(table) {}
    std::uint32_t table() const override { return table_; }
    const char* backend() const override { return "fake"; }
    std::size_t max_mifs() const override { return max_mifs_setting; }
    bool needs_ip6mr_rules() const override { return ip6mr_rules; }
    bool supports_group_entries() const override { return group_entries_supported; }
    Status add_group_entry(const Ipv6Address& group, MifIndex parent,
                           const MifSet& outputs) override;
    Status delete_group_entry(const Ipv6Address& group) override;
    Status add_mif(MifIndex mif, int ifindex, const std::string& name) override;
    Status delete_mif(MifIndex mif) override;
    Status add_mfc(const Ipv6Address& source, const Ipv6Address& group, MifIndex parent,
                   const MifSet& outputs) override;
    Status delete_mfc(const Ipv6Address& source, const Ipv6Address& group) override;
    std::optional<MfcCounters> counters(const Ipv6Address& source,
                                        const Ipv6Address& group) override;
    void set_upcall_handler(UpcallHandler handler) override { handler_ = std::move(handler); }

    // Test controls.
    void upcall(const Upcall& u) {
        if (handler_)
            handler_(u);
    }
    // Adds `packets` to the entry's counter (no effect when absent).
    void count_packets(const Ipv6Address& source, const Ipv6Address& group, std::uint64_t packets);
    // Adds `packets` to the entry's wrong-interface counter.
    void count_wrong_interface(const Ipv6Address& source, const Ipv6Address& group,
                               std::uint64_t packets);

    struct KeyHash {  // (S, G); FNV-1a over both addresses
        std::size_t operator()(const std::pair<Ipv6Address, Ipv6Address>& k) const noexcept {
            std::uint64_t h = 1469598103934665603ull;
            for (auto b : k.first) h = (h ^ b) * 1099511628211ull;
            for (auto b : k.second) h = (h ^ b) * 1099511628211ull;
            return static_cast<std::size_t>(h);
        }
    };
    using Key = std::pair<Ipv6Address, Ipv6Address>;

    std::map<MifIndex, int> mifs;  // MIF -> ifindex
    MifSet mif_set;                // the same MIFs, for a fast output check
    std::unordered_map<Key, MfcEntry, KeyHash> entries;  // (S, G)
    std::unordered_map<Key, MfcCounters, KeyHash> entry_counters;
    std::uint64_t mfc_adds = 0;
    std::uint64_t mfc_deletes = 0;
    std::optional<Error> fail_with;  // when set, every call fails with it
    // Behaviour of a kernel backend to imitate: ip6mr (the defaults) or ebpf
    // (no rules, (*,G) entries, many MIFs).
    std::size_t max_mifs_setting = kMaxMifs;
    bool ip6mr_rules = true;
    bool group_entries_supported = false;
    std::unordered_map<Ipv6Address, MfcEntry, AddressHash> group_entries;  // source ::

  private:
    std::uint32_t table_;
    UpcallHandler handler_;
};

}  // namespace pmip::mcast
