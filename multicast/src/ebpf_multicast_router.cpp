// The ebpf multicast forwarding backend. See ebpf_multicast_router.hpp and
// multicast/bpf/mcast_forward.bpf.c.
#include "pmip/mcast/ebpf_multicast_router.hpp"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <net/if_arp.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstring>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "../bpf/mcast_forward.h"
#include "pmip/common/bpf_object.hpp"
#include "pmip/common/event_loop.hpp"
#include "pmip/common/fd.hpp"
#include "pmip/common/log.hpp"
#include "pmip/common/udp_checksum.hpp"

// The object built from multicast/bpf/mcast_forward.bpf.c (embedded at build
// time by multicast/bpf/embed.cmake).
extern const unsigned char pmip_mcast_forward_object[];
extern const std::size_t pmip_mcast_forward_object_size;

namespace pmip::mcast {

using pmip::to_string;

namespace {

static_assert(sizeof(pmip_mcast_iface) == 16);
static_assert(sizeof(pmip_mcast_key) == 32);
static_assert(sizeof(pmip_mcast_entry) == 16);
static_assert(sizeof(pmip_mcast_report) == 40);
static_assert(sizeof(pmip_mcast_held) == 16);
static_assert(sizeof(pmip_mcast_config) == 16);

const char* const kStatNames[PMIP_MC_STAT_COUNT] = {
    "multicast_seen",      "forwarded",        "copies",
    "no_entry",            "wrong_parent",     "no_outputs",
    "scope_not_forwarded", "bad_source",       "control_to_stack",
    "hop_limit_expired",   "copy_too_big",     "output_unknown",
    "redirect_errors",     "reports",          "reports_suppressed",
    "reports_lost",        "truncated",        "held",
    "held_suppressed",     "held_lost",        "held_too_big",
};

using BpfObject = bpf::Object;
using bpf::route_libbpf_messages;

// Opens and loads the embedded object with the given map sizes.
Expected<BpfObject> load_object(const EbpfRouterLimits& limits, std::uint32_t ring_bytes) {
    return bpf::load_embedded(
        pmip_mcast_forward_object, pmip_mcast_forward_object_size, "pmip_mcast_forward",
        [&](bpf_object* object) -> Status {
            const std::pair<const char*, std::uint32_t> sizes[] = {
                {"ifaces", limits.max_interfaces},
                {"fwd", limits.max_entries},
                {"entry_stats", limits.max_entries},
                {"out_pool", limits.output_slots},
                {"reports", ring_bytes},
            };
            for (const auto& [name, size] : sizes) {
                if (Status st = bpf::set_map_size(object, name, size); !st.ok())
                    return st;
            }
            return {};
        });
}

// Link-layer facts of an interface.
struct LinkFacts {
    std::uint8_t l2len = 0;
    std::array<std::uint8_t, 6> mac{};
    std::uint32_t mtu = 1280;
};
// `fd`: any socket for interface ioctls (the router keeps one: a socket
// made per call costs the handover's MIF set-up a few hundred microseconds).
Expected<LinkFacts> link_facts(int fd, int ifindex) {
    ifreq named{};
    named.ifr_ifindex = ifindex;
    if (::ioctl(fd, SIOCGIFNAME, &named) != 0)
        return Error::from_errno("ifindex " + std::to_string(ifindex));
    char name[IF_NAMESIZE] = {};
    std::memcpy(name, named.ifr_name, IF_NAMESIZE);
    ifreq req{};
    std::memcpy(req.ifr_name, name, IF_NAMESIZE);
    if (::ioctl(fd, SIOCGIFHWADDR, &req) != 0)
        return Error::from_errno(std::string(name) + ": SIOCGIFHWADDR");
    LinkFacts facts;
    if (req.ifr_hwaddr.sa_family == ARPHRD_ETHER) {
        facts.l2len = 14;
        std::memcpy(facts.mac.data(), req.ifr_hwaddr.sa_data, 6);
    }
    ifreq mreq{};
    std::memcpy(mreq.ifr_name, name, IF_NAMESIZE);
    if (::ioctl(fd, SIOCGIFMTU, &mreq) != 0)
        return Error::from_errno(std::string(name) + ": SIOCGIFMTU");
    facts.mtu = static_cast<std::uint32_t>(mreq.ifr_mtu);
    return facts;
}

pmip_mcast_key key_of(const Ipv6Address& source, const Ipv6Address& group) {
    pmip_mcast_key k{};
    std::memcpy(k.source, source.data(), 16);
    std::memcpy(k.group, group.data(), 16);
    return k;
}

struct KeyHash {
    std::size_t operator()(const pmip_mcast_key& k) const noexcept {
        std::uint64_t h = 1469598103934665603ull;
        for (auto b : k.source) h = (h ^ b) * 1099511628211ull;
        for (auto b : k.group) h = (h ^ b) * 1099511628211ull;
        return static_cast<std::size_t>(h);
    }
};
struct KeyEqual {
    bool operator()(const pmip_mcast_key& a, const pmip_mcast_key& b) const noexcept {
        return std::memcmp(&a, &b, sizeof a) == 0;
    }
};

// Held packets are kept per (S,G) and arrival interface.
struct HoldKey {
    pmip_mcast_key sg{};
    int ifindex = 0;
};
struct HoldKeyHash {
    std::size_t operator()(const HoldKey& k) const noexcept {
        return KeyHash{}(k.sg) ^ (static_cast<std::size_t>(k.ifindex) * 0x9e3779b97f4a7c15ull);
    }
};
struct HoldKeyEqual {
    bool operator()(const HoldKey& a, const HoldKey& b) const noexcept {
        return a.ifindex == b.ifindex && KeyEqual{}(a.sg, b.sg);
    }
};

// Ranges of out_pool in power-of-two size classes. A freed range waits
// kRangeQuarantine before reuse: a program run that read the old entry value
// may still be walking it (runs last microseconds).
class OutputPool {
  public:
    static constexpr auto kRangeQuarantine = std::chrono::milliseconds(50);
    explicit OutputPool(std::uint32_t slots) : slots_(slots) {}

    static std::uint32_t size_class(std::uint32_t count) {
        std::uint32_t c = 0;
        while ((1u << c) < count) ++c;
        return c;
    }
    std::optional<std::uint32_t> allocate(std::uint32_t cls) {
        reclaim();
        if (cls < free_.size() && !free_[cls].empty()) {
            const std::uint32_t first = free_[cls].back();
            free_[cls].pop_back();
            used_ += 1u << cls;
            return first;
        }
        const std::uint64_t size = std::uint64_t{1} << cls;
        if (next_ + size > slots_)
            return std::nullopt;
        const std::uint32_t first = next_;
        next_ += static_cast<std::uint32_t>(size);
        used_ += static_cast<std::uint32_t>(size);
        return first;
    }
    void release(std::uint32_t first, std::uint32_t cls) {
        used_ -= 1u << cls;
        quarantine_.push_back({first, cls, std::chrono::steady_clock::now()});
    }
    std::uint32_t used() const { return used_; }
    std::uint32_t slots() const { return slots_; }

  private:
    void reclaim() {
        const auto now = std::chrono::steady_clock::now();
        while (!quarantine_.empty() && now - quarantine_.front().at >= kRangeQuarantine) {
            const auto& q = quarantine_.front();
            if (q.cls >= free_.size())
                free_.resize(q.cls + 1);
            free_[q.cls].push_back(q.first);
            quarantine_.pop_front();
        }
    }
    struct Quarantined {
        std::uint32_t first;
        std::uint32_t cls;
        std::chrono::steady_clock::time_point at;
    };
    std::uint32_t slots_;
    std::uint32_t next_ = 0;
    std::uint32_t used_ = 0;
    std::vector<std::vector<std::uint32_t>> free_;
    std::deque<Quarantined> quarantine_;
};

class EbpfMulticastRouter final : public MulticastRouter {
  public:
    EbpfMulticastRouter(EventLoop& loop, std::uint32_t table, std::uint32_t handle,
                        EbpfRouterLimits limits, BpfObject object)
        : loop_(loop),
          owner_(table),
          handle_(handle),
          limits_(limits),
          object_(std::move(object)),
          pool_(limits.output_slots) {}

    ~EbpfMulticastRouter() override {
        if (hold_timer_ != 0)
            loop_.cancel_timer(hold_timer_);
        if (deferred_timer_ != 0)
            loop_.cancel_timer(deferred_timer_);
        for (auto& [ifindex, attached] : attached_) (void)detach(ifindex, attached);
        if (ring_) {
            loop_.remove_fd(ring_buffer__epoll_fd(ring_));
            ring_buffer__free(ring_);
        }
        if (pool_map_ && pool_map_ != MAP_FAILED)
            ::munmap(pool_map_, pool_bytes_);
    }

    Status start() {
        bpf_program* prog = bpf_object__find_program_by_name(object_.get(), "pmip_mcast_fwd");
        if (!prog)
            return fail("the object has no program pmip_mcast_fwd", ENOENT);
        prog_fd_ = bpf_program__fd(prog);
        for (auto [name, fd] : {std::pair{"ifaces", &ifaces_fd_}, std::pair{"fwd", &fwd_fd_},
                                std::pair{"entry_stats", &entry_stats_fd_},
                                std::pair{"out_pool", &pool_fd_}, std::pair{"stats", &stats_fd_},
                                std::pair{"reports", &reports_fd_}}) {
            bpf_map* map = bpf_object__find_map_by_name(object_.get(), name);
            if (!map)
                return fail(std::string("the object has no map ") + name, ENOENT);
            *fd = bpf_map__fd(map);
        }
        ioctl_socket_ = Fd(::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        if (!ioctl_socket_.valid())
            return fail("socket for interface ioctls", errno);
        const long page = ::sysconf(_SC_PAGESIZE);
        // An array's elements are 8-octet aligned: the pool's values are
        // 64-bit (ifindex in the low half), so slot i is at octet 8i.
        pool_bytes_ = (std::size_t{limits_.output_slots} * 8 + page - 1) / page * page;
        pool_map_ = static_cast<std::uint64_t*>(
            ::mmap(nullptr, pool_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, pool_fd_, 0));
        if (pool_map_ == MAP_FAILED)
            return fail("mmap of out_pool", errno);
        const int cpus = libbpf_num_possible_cpus();
        if (cpus <= 0)
            return fail("libbpf_num_possible_cpus", -cpus);
        cpus_ = static_cast<std::size_t>(cpus);
        ring_ = ring_buffer__new(reports_fd_, &EbpfMulticastRouter::on_report, this, nullptr);
        if (!ring_)
            return fail("ring buffer of reports", errno);
        if (Status st = start_holding(); !st.ok())
            return st;
        return loop_.add_fd(ring_buffer__epoll_fd(ring_), EPOLLIN,
                            [this](std::uint32_t) { consume_ring(); });
    }

    std::uint32_t table() const override { return owner_; }
    const char* backend() const override { return "ebpf"; }
    std::size_t max_mifs() const override {
        return std::min<std::size_t>(limits_.max_interfaces, 65535);
    }
    bool needs_ip6mr_rules() const override { return false; }
    bool supports_group_entries() const override { return true; }
    int program_fd() const { return prog_fd_; }

    Status add_mif(MifIndex mif, int ifindex, const std::string& name) override {
        const std::string what = "MIF " + std::to_string(mif) + " (" + name + ", ifindex " +
                                 std::to_string(ifindex) + ")";
        if (mif < mif_ifindex_.size() && mif_ifindex_[mif] != 0)
            return fail(what + ": MIF in use", EADDRINUSE);
        if (attached_.contains(ifindex))
            return fail(what + ": interface already has a MIF", EADDRINUSE);
        auto facts = link_facts(ioctl_socket_.get(), ifindex);
        if (!facts)
            return fail(what + ": " + facts.error().what, facts.error().code);
        pmip_mcast_iface value{};
        value.mif = mif;
        value.mtu = facts->mtu;
        value.l2len = facts->l2len;
        std::memcpy(value.mac, facts->mac.data(), 6);
        const std::uint32_t key = static_cast<std::uint32_t>(ifindex);
        if (bpf_map_update_elem(ifaces_fd_, &key, &value, BPF_ANY) != 0)
            return fail(what + ": ifaces map update", errno);
        Attached attached;
        attached.mif = mif;
        attached.mtu = facts->mtu;
        // The filter first: the link's clsact usually exists (magd makes
        // its access links' at start, and a prepared tunnel's before it is
        // up), and each netlink request costs the handover up to a
        // millisecond. Without a clsact the attach fails; then it is made
        // here (and removed with the MIF) and the attach tried again.
        LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
        LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd_, .flags = BPF_TC_F_REPLACE,
                    .handle = handle_, .priority = kFilterPriority);
        int rc = bpf_tc_attach(&hook, &opts);
        if (rc != 0) {
            if (const int made = bpf_tc_hook_create(&hook); made == 0) {
                attached.created_qdisc = true;
            } else if (made != -EEXIST) {
                (void)bpf_map_delete_elem(ifaces_fd_, &key);
                return fail(what + ": clsact qdisc", -made);
            }
            if (attached.created_qdisc) {
                LIBBPF_OPTS(bpf_tc_opts, again, .prog_fd = prog_fd_, .flags = BPF_TC_F_REPLACE,
                            .handle = handle_, .priority = kFilterPriority);
                rc = bpf_tc_attach(&hook, &again);
            }
        }
        if (rc != 0) {
            if (attached.created_qdisc) {
                hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
                (void)bpf_tc_hook_destroy(&hook);
            }
            (void)bpf_map_delete_elem(ifaces_fd_, &key);
            return fail(what + ": tc filter (clsact ingress)", -rc);
        }
        if (mif >= mif_ifindex_.size())
            mif_ifindex_.resize(mif + 1, 0);
        mif_ifindex_[mif] = ifindex;
        attached_.emplace(ifindex, attached);
        return {};
    }

    Status delete_mif(MifIndex mif) override {
        if (mif >= mif_ifindex_.size() || mif_ifindex_[mif] == 0)
            return fail("MIF " + std::to_string(mif) + ": not in use", EADDRNOTAVAIL);
        const int ifindex = mif_ifindex_[mif];
        mif_ifindex_[mif] = 0;
        const auto it = attached_.find(ifindex);
        Status result;
        if (it != attached_.end()) {
            result = detach(ifindex, it->second);
            attached_.erase(it);
        }
        discard_held(ifindex);
        return result;
    }

    Status add_mfc(const Ipv6Address& source, const Ipv6Address& group, MifIndex parent,
                   const MifSet& outputs) override {
        return install(key_of(source, group), "(" + to_string(source) + ", " + to_string(group) + ")",
                       parent, outputs, true);
    }
    Status delete_mfc(const Ipv6Address& source, const Ipv6Address& group) override {
        return remove(key_of(source, group), true);
    }
    Status add_group_entry(const Ipv6Address& group, MifIndex parent,
                           const MifSet& outputs) override {
        return install(key_of(Ipv6Address{}, group), "(*, " + to_string(group) + ")", parent,
                       outputs, false);
    }
    Status delete_group_entry(const Ipv6Address& group) override {
        return remove(key_of(Ipv6Address{}, group), false);
    }

    std::optional<MfcCounters> counters(const Ipv6Address& source,
                                        const Ipv6Address& group) override {
        const pmip_mcast_key key = key_of(source, group);
        std::vector<pmip_mcast_entry_stats> values(cpus_);
        if (bpf_map_lookup_elem(entry_stats_fd_, &key, values.data()) != 0)
            return std::nullopt;
        MfcCounters c;
        for (const auto& v : values) {
            c.packets += v.packets;
            c.bytes += v.bytes;
            c.wrong_interface += v.wrong_if;
        }
        return c;
    }

    void set_upcall_handler(UpcallHandler handler) override { handler_ = std::move(handler); }

    nlohmann::json show() const override {
        nlohmann::json program = nlohmann::json::object();
        std::vector<std::uint64_t> values(cpus_);
        for (std::uint32_t i = 0; i < PMIP_MC_STAT_COUNT; ++i) {
            std::uint64_t total = 0;
            if (bpf_map_lookup_elem(stats_fd_, &i, values.data()) == 0)
                for (auto v : values) total += v;
            program[kStatNames[i]] = total;
        }
        return {{"backend", "ebpf"},
                {"tc_filter", {{"handle", handle_}, {"priority", kFilterPriority}}},
                {"interfaces", attached_.size()},
                {"entries", entries_.size()},
                {"output_slots_used", pool_.used()},
                {"output_slots", pool_.slots()},
                {"limits",
                 {{"max_interfaces", limits_.max_interfaces},
                  {"max_entries", limits_.max_entries}}},
                {"program", program},
                {"reports_unknown_interface", reports_unknown_interface_},
                {"held", held_show()}};
    }

  private:
    struct Attached {
        MifIndex mif = 0;
        bool created_qdisc = false;
        std::uint32_t mtu = 1280;  // held packets longer than this are not sent here
    };
    struct Installed {
        pmip_mcast_entry value{};
        std::uint32_t cls = 0;  // out_pool size class of value.first (when count > 0)
    };

    Error fail(const std::string& what, int code) const {
        return Error::from_errno("ebpf forwarding " + std::to_string(owner_) + ": " + what, code);
    }

    Status detach(int ifindex, const Attached& attached) {
        LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
        LIBBPF_OPTS(bpf_tc_opts, opts, .handle = handle_, .priority = kFilterPriority);
        Status result;
        const int rc = bpf_tc_detach(&hook, &opts);
        // The device may be gone already (its filters with it).
        if (rc != 0 && rc != -ENODEV && rc != -ENOENT && rc != -EINVAL)
            result = fail("detaching from ifindex " + std::to_string(ifindex), -rc);
        if (attached.created_qdisc) {
            hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
            (void)bpf_tc_hook_destroy(&hook);
        }
        const std::uint32_t key = static_cast<std::uint32_t>(ifindex);
        (void)bpf_map_delete_elem(ifaces_fd_, &key);
        return result;
    }

    int ifindex_of(MifIndex mif) const { return mif < mif_ifindex_.size() ? mif_ifindex_[mif] : 0; }

    Status install(const pmip_mcast_key& key, const std::string& what, MifIndex parent,
                   const MifSet& outputs, bool with_stats) {
        Installed next;
        next.value.parent = static_cast<std::uint32_t>(ifindex_of(parent));
        if (next.value.parent == 0)
            return fail("entry " + what + ": parent MIF " + std::to_string(parent) + " absent",
                        ENFILE);
        std::vector<std::uint32_t>& list = scratch_;
        list.clear();
        bool absent = false;
        outputs.for_each([&](MifIndex m) {
            const int ifindex = ifindex_of(m);
            if (ifindex == 0)
                absent = true;
            else
                list.push_back(static_cast<std::uint32_t>(ifindex));
        });
        if (absent)
            return fail("entry " + what + ": an output MIF is absent", ENFILE);
        next.value.count = static_cast<std::uint32_t>(list.size());
        if (!list.empty()) {
            next.cls = OutputPool::size_class(next.value.count);
            const auto first = pool_.allocate(next.cls);
            if (!first)
                return fail("entry " + what + ": all " + std::to_string(pool_.slots()) +
                                " output slots in use",
                            ENOSPC);
            next.value.first = *first;
            std::copy(list.begin(), list.end(), pool_map_ + *first);
        }
        const auto it = entries_.find(key);
        const bool is_new = it == entries_.end();
        if (is_new && entries_.size() >= limits_.max_entries) {
            if (next.value.count)
                pool_.release(next.value.first, next.cls);
            return fail("entry " + what + ": all " + std::to_string(limits_.max_entries) +
                            " entries in use",
                        ENOSPC);
        }
        if (is_new && with_stats) {
            std::vector<pmip_mcast_entry_stats> zero(cpus_);
            if (bpf_map_update_elem(entry_stats_fd_, &key, zero.data(), BPF_ANY) != 0) {
                const int code = errno;
                if (next.value.count)
                    pool_.release(next.value.first, next.cls);
                return fail("entry " + what + ": entry_stats update", code);
            }
        }
        // What waits for this entry goes out first, then the entry is
        // written: the program's own copies come after the held ones.
        if (!list.empty())
            release_held(key, next.value.parent, list, !with_stats);
        if (bpf_map_update_elem(fwd_fd_, &key, &next.value, BPF_ANY) != 0) {
            const int code = errno;
            if (next.value.count)
                pool_.release(next.value.first, next.cls);
            if (is_new && with_stats)
                (void)bpf_map_delete_elem(entry_stats_fd_, &key);
            return fail("entry " + what + ": fwd update", code);
        }
        if (is_new) {
            entries_.emplace(key, next);
        } else {
            if (it->second.value.count)
                pool_.release(it->second.value.first, it->second.cls);
            it->second = next;
        }
        return {};
    }

    Status remove(const pmip_mcast_key& key, bool with_stats) {
        const auto it = entries_.find(key);
        if (it == entries_.end())
            return {};
        Status result;
        if (bpf_map_delete_elem(fwd_fd_, &key) != 0 && errno != ENOENT)
            result = fail("fwd delete", errno);
        if (with_stats)
            (void)bpf_map_delete_elem(entry_stats_fd_, &key);
        if (it->second.value.count)
            pool_.release(it->second.value.first, it->second.cls);
        entries_.erase(it);
        return result;
    }

    static int on_report(void* context, void* data, std::size_t size) {
        auto* self = static_cast<EbpfMulticastRouter*>(context);
        if (size >= sizeof(pmip_mcast_held)) {
            pmip_mcast_held h;
            std::memcpy(&h, data, sizeof h);
            if (h.reason == PMIP_MC_REPORT_HELD) {
                if (h.len <= size - sizeof h)
                    self->handle_held(static_cast<int>(h.ifindex),
                                      static_cast<const std::uint8_t*>(data) + sizeof h, h.len);
                return 0;
            }
        }
        if (size < sizeof(pmip_mcast_report))
            return 0;
        pmip_mcast_report r;
        std::memcpy(&r, data, sizeof r);
        self->handle_report(r);
        return 0;
    }
    void handle_report(const pmip_mcast_report& r) {
        const auto it = attached_.find(static_cast<int>(r.ifindex));
        if (it == attached_.end()) {
            ++reports_unknown_interface_;
            return;
        }
        Upcall u;
        u.type = static_cast<std::uint8_t>(UpcallType::kNoCache);
        u.mif = it->second.mif;
        std::memcpy(u.source.data(), r.source, 16);
        std::memcpy(u.group.data(), r.group, 16);
        if (collecting_) {
            // Read while an entry is being written (release_held): the
            // proxy gets it from the loop, not from inside its own update.
            deferred_.push_back(u);
            if (deferred_timer_ == 0)
                deferred_timer_ = loop_.start_timer(Duration::zero(), [this] {
                    deferred_timer_ = 0;
                    std::vector<Upcall> upcalls;
                    upcalls.swap(deferred_);
                    for (const Upcall& d : upcalls)
                        if (handler_)
                            handler_(d);
                });
            return;
        }
        if (handler_)
            handler_(u);
    }

    // --- Held packets (PMIP_MC_REPORT_HELD; EbpfRouterLimits::hold_*) -------
    // The program copies the first packets of an (S,G) without an entry into
    // the ring buffer; they wait here until an entry with that parent is
    // written (install), then go out on its outputs through a packet socket,
    // hop limit decremented, as the program would have sent them. What waits
    // longer than hold_ms, beyond hold_packets per (S,G) and interface or
    // beyond hold_bytes in all is dropped and counted.

    struct HeldPacket {
        TimePoint at;
        std::uint64_t seq;  // its place in held_order_
        std::vector<std::uint8_t> bytes;
    };
    struct HeldCounters {
        std::uint64_t waiting = 0;     // packets held now
        std::uint64_t bytes = 0;       // their octets
        std::uint64_t queued = 0;      // packets taken from the program
        std::uint64_t released = 0;    // held packets an entry came for
        std::uint64_t copies = 0;      // copies of them sent
        std::uint64_t send_errors = 0; // copies the packet socket refused
        std::uint64_t checksums_completed = 0;  // partial UDP checksums completed
        std::uint64_t expired = 0;     // waited hold_ms, no entry came
        std::uint64_t over_limit = 0;  // hold_packets or hold_bytes reached
        std::uint64_t discarded = 0;   // the arrival interface left the router
    };

    Status start_holding() {
        bpf_map* map = bpf_object__find_map_by_name(object_.get(), "config");
        if (!map)
            return fail("the object has no map config", ENOENT);
        pmip_mcast_config config{};
        if (limits_.hold_packets > 0) {
            // Sending needs a packet socket; without one nothing is held
            // (show says why) and forwarding works as before.
            packet_socket_ = Fd(::socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
            if (packet_socket_.valid())
                config.hold_packets = limits_.hold_packets;
            else
                hold_off_reason_ = std::string("packet socket: ") + std::strerror(errno);
        } else {
            hold_off_reason_ = "hold_packets is 0";
        }
        config.hold_window_ns = std::uint64_t{limits_.hold_ms} * 1'000'000;
        const std::uint32_t zero = 0;
        if (bpf_map_update_elem(bpf_map__fd(map), &zero, &config, BPF_ANY) != 0)
            return fail("config map update", errno);
        return {};
    }

    // Never nested: libbpf advances its read position after each record's
    // callback, so a read from inside one would see that record again.
    void consume_ring() {
        if (consuming_)
            return;
        consuming_ = true;
        ring_buffer__consume(ring_);
        consuming_ = false;
    }

    void handle_held(int ifindex, const std::uint8_t* packet, std::uint32_t len) {
        if (len < 40 || !attached_.contains(ifindex)) {
            ++held_.discarded;
            return;
        }
        const TimePoint now = loop_.clock().now();
        expire_held(now);
        HoldKey key;
        key.ifindex = ifindex;
        std::memcpy(key.sg.source, packet + 8, 16);
        std::memcpy(key.sg.group, packet + 24, 16);
        // Copied before an entry was written, read after: it goes out now.
        if (const Installed* e = forwarding_entry(key.sg);
            e && e->value.parent == static_cast<std::uint32_t>(ifindex) && e->value.count > 0) {
            std::vector<std::uint8_t> copy(packet, packet + len);
            held_outputs_.assign(pool_map_ + e->value.first,
                                 pool_map_ + e->value.first + e->value.count);
            send_held(copy, ifindex, held_outputs_);
            ++held_.queued;
            ++held_.released;
            return;
        }
        auto& queue = held_queues_[key];
        if (queue.size() >= limits_.hold_packets || held_.bytes + len > limits_.hold_bytes) {
            ++held_.over_limit;
            if (queue.empty())
                held_queues_.erase(key);
            return;
        }
        const std::uint64_t seq = next_held_seq_++;
        queue.push_back({now, seq, std::vector<std::uint8_t>(packet, packet + len)});
        held_order_.emplace_back(seq, key);
        held_.bytes += len;
        ++held_.waiting;
        ++held_.queued;
        if (hold_timer_ == 0)
            arm_hold_timer();
    }

    // The entry the program would use for (S,G): (S,G), else (*,G).
    const Installed* forwarding_entry(const pmip_mcast_key& sg) const {
        if (const auto it = entries_.find(sg); it != entries_.end())
            return &it->second;
        pmip_mcast_key any{};
        std::memcpy(any.group, sg.group, 16);
        const auto it = entries_.find(any);
        return it == entries_.end() ? nullptr : &it->second;
    }

    void arm_hold_timer() {
        const auto after = std::chrono::milliseconds(limits_.hold_ms) + std::chrono::milliseconds(10);
        hold_timer_ = loop_.start_timer(after, [this] {
            hold_timer_ = 0;
            expire_held(loop_.clock().now());
            if (held_.waiting > 0)
                arm_hold_timer();
        });
    }

    // Oldest first through held_order_ (arrival order; an entry whose
    // packet was sent or discarded meanwhile is passed over): O(1) per
    // packet, however many flows wait.
    void expire_held(TimePoint now) {
        const auto limit = std::chrono::milliseconds(limits_.hold_ms);
        while (!held_order_.empty()) {
            const auto [seq, key] = held_order_.front();
            const auto it = held_queues_.find(key);
            if (it != held_queues_.end() && !it->second.empty() && it->second.front().seq == seq) {
                if (now - it->second.front().at < limit)
                    break;
                held_order_.pop_front();
                drop_front(it->second);  // the last one clears held_order_
                ++held_.expired;
                if (it->second.empty())
                    held_queues_.erase(it);
            } else {
                held_order_.pop_front();
            }
        }
    }

    void drop_front(std::deque<HeldPacket>& queue) {
        held_.bytes -= queue.front().bytes.size();
        --held_.waiting;
        queue.pop_front();
        if (held_.waiting == 0)
            held_order_.clear();  // only passed-over entries are left
    }

    void discard_held(int ifindex) {
        for (auto it = held_queues_.begin(); it != held_queues_.end();) {
            if (it->first.ifindex != ifindex) {
                ++it;
                continue;
            }
            while (!it->second.empty()) {
                drop_front(it->second);
                ++held_.discarded;
            }
            it = held_queues_.erase(it);
        }
    }

    // An entry `key` (a (*,G) when `star`) was written with parent `parent`
    // and `outputs` (ifindexes): what waits for it goes out now. A (*,G)
    // takes the held packets of every source of G that has no (S,G) entry
    // of its own (the program's lookup order).
    void release_held(const pmip_mcast_key& key, std::uint32_t parent,
                      const std::vector<std::uint32_t>& outputs, bool star) {
        // Packets the program copied that are still in the ring buffer are
        // read first (reports among them wait for the loop: deferred_).
        // Inside a read already (a report's handler writing this entry),
        // the held records before that report are in held_queues_ already.
        collecting_ = true;
        consume_ring();
        collecting_ = false;
        if (held_.waiting == 0)
            return;
        expire_held(loop_.clock().now());
        for (auto it = held_queues_.begin(); it != held_queues_.end();) {
            const HoldKey& k = it->first;
            const bool match =
                static_cast<std::uint32_t>(k.ifindex) == parent &&
                std::memcmp(k.sg.group, key.group, 16) == 0 &&
                (star ? !entries_.contains(k.sg) : std::memcmp(k.sg.source, key.source, 16) == 0);
            if (!match) {
                ++it;
                continue;
            }
            auto& queue = it->second;
            while (!queue.empty()) {
                send_held(queue.front().bytes, k.ifindex, outputs);
                drop_front(queue);
                ++held_.released;
            }
            it = held_queues_.erase(it);
        }
    }

    void send_held(std::vector<std::uint8_t>& packet, int arrival,
                   const std::vector<std::uint32_t>& outputs) {
        if (packet[7] <= 1)
            return;        // the program never holds these
        packet[7] -= 1;    // RFC 8200 3, once for every copy
        // The sender's checksum offload may have left a UDP checksum partial
        // in these octets (a local sender, veths, the ebpf tunnels): sent
        // again as a new packet it would be dropped by the receiver.
        if (complete_partial_udp_checksum(packet))
            ++held_.checksums_completed;
        sockaddr_ll to{};
        to.sll_family = AF_PACKET;
        to.sll_protocol = htons(ETH_P_IPV6);
        to.sll_halen = 6;  // 33:33 + the group's low 32 bits (ignored by L3 devices)
        to.sll_addr[0] = 0x33;
        to.sll_addr[1] = 0x33;
        std::memcpy(&to.sll_addr[2], &packet[36], 4);
        for (const std::uint32_t out : outputs) {
            const int ifindex = static_cast<int>(out);
            if (ifindex == arrival)
                continue;
            const auto a = attached_.find(ifindex);
            if (a == attached_.end() || packet.size() > a->second.mtu)
                continue;
            to.sll_ifindex = ifindex;
            if (::sendto(packet_socket_.get(), packet.data(), packet.size(), MSG_DONTWAIT,
                         reinterpret_cast<const sockaddr*>(&to), sizeof to) ==
                static_cast<ssize_t>(packet.size()))
                ++held_.copies;
            else
                ++held_.send_errors;
        }
    }

    nlohmann::json held_show() const {
        nlohmann::json j = {{"hold_packets", packet_socket_.valid() ? limits_.hold_packets : 0},
                            {"hold_ms", limits_.hold_ms},
                            {"waiting", held_.waiting},
                            {"waiting_bytes", held_.bytes},
                            {"queued", held_.queued},
                            {"released", held_.released},
                            {"copies_sent", held_.copies},
                            {"checksums_completed", held_.checksums_completed},
                            {"send_errors", held_.send_errors},
                            {"expired", held_.expired},
                            {"over_limit", held_.over_limit},
                            {"discarded", held_.discarded}};
        if (!hold_off_reason_.empty())
            j["off"] = hold_off_reason_;
        return j;
    }

    EventLoop& loop_;
    std::uint32_t owner_;   // the instance's table number (logs)
    std::uint32_t handle_;  // tc filter handle (the daemon's)
    EbpfRouterLimits limits_;
    BpfObject object_;
    int prog_fd_ = -1;
    int ifaces_fd_ = -1;
    int fwd_fd_ = -1;
    int entry_stats_fd_ = -1;
    int pool_fd_ = -1;
    int stats_fd_ = -1;
    int reports_fd_ = -1;
    std::uint64_t* pool_map_ = nullptr;
    std::size_t pool_bytes_ = 0;
    std::size_t cpus_ = 1;
    ring_buffer* ring_ = nullptr;
    OutputPool pool_;
    std::vector<int> mif_ifindex_;             // MIF -> ifindex (0: free)
    std::unordered_map<int, Attached> attached_;  // by ifindex
    Fd ioctl_socket_;                              // link_facts
    std::unordered_map<pmip_mcast_key, Installed, KeyHash, KeyEqual> entries_;
    std::vector<std::uint32_t> scratch_;
    std::uint64_t reports_unknown_interface_ = 0;
    UpcallHandler handler_;
    bool consuming_ = false;   // inside ring_buffer__consume
    bool collecting_ = false;  // reading the ring from release_held
    std::vector<Upcall> deferred_;
    TimerId deferred_timer_ = 0;
    std::vector<std::uint32_t> held_outputs_;
    Fd packet_socket_;  // sends held packets
    std::string hold_off_reason_;
    std::unordered_map<HoldKey, std::deque<HeldPacket>, HoldKeyHash, HoldKeyEqual> held_queues_;
    std::deque<std::pair<std::uint64_t, HoldKey>> held_order_;  // (seq, flow), arrival order
    std::uint64_t next_held_seq_ = 0;
    HeldCounters held_;
    TimerId hold_timer_ = 0;
};

}  // namespace

struct LoadedEbpfProgram::Object {
    BpfObject object;
};
LoadedEbpfProgram::LoadedEbpfProgram() = default;
LoadedEbpfProgram::LoadedEbpfProgram(LoadedEbpfProgram&&) noexcept = default;
LoadedEbpfProgram& LoadedEbpfProgram::operator=(LoadedEbpfProgram&&) noexcept = default;
LoadedEbpfProgram::~LoadedEbpfProgram() = default;

Expected<LoadedEbpfProgram> load_ebpf_program(EbpfRouterLimits limits) {
    if (limits.max_interfaces == 0 || limits.max_entries == 0 || limits.output_slots == 0)
        return Error{EINVAL, "ebpf forwarding: limits must not be 0"};
    auto object = load_object(limits, 256 * 1024);
    if (!object)
        return Error{object.error().code, "ebpf forwarding: " + object.error().what};
    LoadedEbpfProgram loaded;
    loaded.object_ = std::make_unique<LoadedEbpfProgram::Object>();
    loaded.object_->object = std::move(*object);
    loaded.limits_ = limits;
    return loaded;
}

Expected<std::unique_ptr<MulticastRouter>> make_ebpf_multicast_router(EventLoop& loop,
                                                                      std::uint32_t table,
                                                                      std::uint32_t filter_handle,
                                                                      LoadedEbpfProgram program) {
    if (table == 0 || filter_handle == 0)
        return Error{EINVAL, "ebpf forwarding: table and filter handle must not be 0"};
    if (!program.object_ || !program.object_->object)
        return Error{EINVAL, "ebpf forwarding " + std::to_string(table) + ": no loaded program"};
    auto router = std::make_unique<EbpfMulticastRouter>(
        loop, table, filter_handle, program.limits_, std::move(program.object_->object));
    if (Status s = router->start(); !s)
        return s.error();
    return std::unique_ptr<MulticastRouter>(std::move(router));
}

Expected<std::unique_ptr<MulticastRouter>> make_ebpf_multicast_router(EventLoop& loop,
                                                                      std::uint32_t table,
                                                                      std::uint32_t filter_handle,
                                                                      EbpfRouterLimits limits) {
    auto program = load_ebpf_program(limits);
    if (!program)
        return Error{program.error().code,
                     "ebpf forwarding " + std::to_string(table) + ": " + program.error().what};
    return make_ebpf_multicast_router(loop, table, filter_handle, std::move(*program));
}

int ebpf_program_fd(const MulticastRouter& router) {
    const auto* ebpf = dynamic_cast<const EbpfMulticastRouter*>(&router);
    return ebpf ? ebpf->program_fd() : -1;
}

std::optional<std::string> ebpf_unavailable_reason() {
    auto object = load_object({1, 1, 1}, 4096);
    if (!object)
        return object.error().what;
    // clsact (sch_ingress) and cls_bpf: a hook on lo, removed again when
    // this probe created it.
    const int lo = static_cast<int>(::if_nametoindex("lo"));
    if (lo > 0) {
        LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = lo, .attach_point = BPF_TC_INGRESS);
        const int rc = bpf_tc_hook_create(&hook);
        if (rc != 0 && rc != -EEXIST)
            return "tc clsact qdisc: " + std::string(std::strerror(-rc));
        if (rc == 0) {
            hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
            (void)bpf_tc_hook_destroy(&hook);
        }
    }
    return std::nullopt;
}

std::size_t remove_leftover_filters(std::uint32_t handle) {
    return bpf::remove_leftover_ingress_filters(handle, kFilterPriority, PMIP_MCAST_PROG_NAME);
}

const char* to_string(Forwarding forwarding) {
    switch (forwarding) {
        case Forwarding::kAuto: return "auto";
        case Forwarding::kEbpf: return "ebpf";
        case Forwarding::kKernel: return "kernel";
    }
    return "?";
}

std::optional<Forwarding> parse_forwarding(const std::string& text) {
    if (text == "auto")
        return Forwarding::kAuto;
    if (text == "ebpf")
        return Forwarding::kEbpf;
    if (text == "kernel")
        return Forwarding::kKernel;
    return std::nullopt;
}

Expected<ForwardingChoice> choose_forwarding(Forwarding wanted) {
    const auto ebpf_missing = wanted == Forwarding::kKernel ? std::nullopt : ebpf_unavailable_reason();
    if (wanted == Forwarding::kEbpf) {
        if (ebpf_missing)
            return Error{EOPNOTSUPP, "multicast forwarding ebpf: " + *ebpf_missing};
        return ForwardingChoice{Forwarding::kEbpf, "tc/eBPF programs load (configured: ebpf)"};
    }
    const auto ip6mr_missing = wanted == Forwarding::kAuto && !ebpf_missing
                                   ? std::nullopt
                                   : ip6mr_unavailable_reason();
    if (wanted == Forwarding::kKernel) {
        if (ip6mr_missing)
            return Error{EOPNOTSUPP, "multicast forwarding kernel: " + *ip6mr_missing};
        return ForwardingChoice{Forwarding::kKernel,
                                "ip6mr (configured: kernel; at most 31 downstreams per instance)"};
    }
    if (!ebpf_missing)
        return ForwardingChoice{Forwarding::kEbpf, "auto: the tc/eBPF programs load"};
    if (!ip6mr_missing)
        return ForwardingChoice{Forwarding::kKernel,
                                "auto: ebpf unavailable (" + *ebpf_missing +
                                    "), ip6mr used (at most 31 downstreams per instance)"};
    return Error{EOPNOTSUPP, "multicast forwarding: neither backend works here: ebpf: " +
                                 *ebpf_missing + "; kernel: " + *ip6mr_missing};
}

Expected<std::unique_ptr<MulticastRouter>> make_multicast_router(EventLoop& loop,
                                                                 Forwarding backend,
                                                                 std::uint32_t table,
                                                                 std::uint32_t filter_handle,
                                                                 EbpfRouterLimits limits) {
    switch (backend) {
        case Forwarding::kEbpf: return make_ebpf_multicast_router(loop, table, filter_handle, limits);
        case Forwarding::kKernel: return make_kernel_multicast_router(loop, table);
        case Forwarding::kAuto: break;
    }
    return Error{EINVAL, "multicast forwarding: resolve auto first (choose_forwarding)"};
}

}  // namespace pmip::mcast
