// The "ebpf" multicast forwarding backend: a MulticastRouter made of a tc
// (clsact ingress) program and BPF maps, one object per proxy instance
// (multicast/bpf/mcast_forward.bpf.c has the per-packet rules). It needs no
// IPv6 multicast routing in the kernel and has no 32-interface limit.
//
//   add_mif      the interface's role data (MIF, link-layer header length,
//                MAC, MTU) into `ifaces`, then the program attached to the
//                interface's clsact ingress hook (qdisc created if missing)
//                as filter handle = the daemon's filter handle (shared by
//                its instances, whose interfaces are disjoint), priority
//                kFilterPriority, replacing a leftover of the same handle
//                and priority.
//   add_mfc      outputs (ifindexes) written into a free range of the
//                memory-mapped `out_pool` array, then the (S,G) value
//                overwritten in `fwd` in one update (about 1 us; never a
//                map-in-map swap, which waits for an RCU grace period);
//                the old range is reused only after kRangeQuarantine, so a
//                packet being forwarded never sees a half-written list.
//   add_group_entry  the same for (*,G) (source ::).
//   upcalls      the program's ring buffer of (S,G) data without an entry,
//                rate limited in the program (200 ms per (S,G, interface),
//                256 reports per CPU per 100 ms), read on the loop thread and
//                passed on as Upcall{kNoCache}.
//   counters     per-CPU per-entry counters summed.
// The destructor detaches every filter it attached and deletes the clsact
// qdiscs it created; the maps and program go with the last reference.
// remove_leftover_filters() removes what a killed process left.
//
// Threading: loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "pmip/common/bpf_object.hpp"
#include "pmip/common/result.hpp"
#include "pmip/mcast/multicast_router.hpp"

namespace pmip {
class EventLoop;
}

namespace pmip::mcast {

struct EbpfRouterLimits {
    std::uint32_t max_interfaces = 8192;     // ifaces entries (upstream + downstreams)
    std::uint32_t max_entries = 16384;       // (S,G) + (*,G) entries
    std::uint32_t output_slots = 1u << 20;   // out_pool size (8 octets each)
    // Data of an (S,G) that no entry forwards yet is held, as ip6mr's
    // unresolved queue holds it, and sent on the entry's outputs when the
    // entry is written: at most hold_packets per (S,G) and arrival interface
    // (0: none held), each for at most hold_ms, hold_bytes in all. A
    // handover needs it: the stream reaches the new MAG's tunnel up to a few
    // milliseconds before the MN's entry is written (issue 17).
    std::uint32_t hold_packets = 8;
    std::uint32_t hold_ms = 1000;
    std::uint32_t hold_bytes = 1u << 20;
};

// The program loaded and its maps created, not yet attached anywhere: the
// slow part of making an ebpf router (the verifier and the map allocations,
// 4-20 ms measured here). Safe to make on any thread, e.g. ahead of need, so
// that an instance created on a handover's path does not wait for it.
class LoadedEbpfProgram {
  public:
    LoadedEbpfProgram();
    LoadedEbpfProgram(LoadedEbpfProgram&&) noexcept;
    LoadedEbpfProgram& operator=(LoadedEbpfProgram&&) noexcept;
    ~LoadedEbpfProgram();

  private:
    friend Expected<LoadedEbpfProgram> load_ebpf_program(EbpfRouterLimits limits);
    friend Expected<std::unique_ptr<MulticastRouter>> make_ebpf_multicast_router(
        EventLoop& loop, std::uint32_t table, std::uint32_t filter_handle,
        LoadedEbpfProgram program);
    struct Object;
    std::unique_ptr<Object> object_;
    EbpfRouterLimits limits_;
};
Expected<LoadedEbpfProgram> load_ebpf_program(EbpfRouterLimits limits = {});

// tc filter priority of every pmip filter (the handle names the daemon).
inline constexpr std::uint16_t kFilterPriority = 0x5213;

// A MulticastRouter on tc/eBPF for the instance `table` (its number, for
// logs and show) whose filters carry `filter_handle` (one per daemon: lmad
// its table, magd its table base). Fails with what the kernel or libbpf said
// (the verifier's last lines when it refused).
Expected<std::unique_ptr<MulticastRouter>> make_ebpf_multicast_router(EventLoop& loop,
                                                                      std::uint32_t table,
                                                                      std::uint32_t filter_handle,
                                                                      EbpfRouterLimits limits = {});
// The same with a program loaded beforehand (load_ebpf_program): fast, loop
// thread.
Expected<std::unique_ptr<MulticastRouter>> make_ebpf_multicast_router(EventLoop& loop,
                                                                      std::uint32_t table,
                                                                      std::uint32_t filter_handle,
                                                                      LoadedEbpfProgram program);

// The tc program's fd of an ebpf router (-1 for other backends): tests run it
// on crafted packets with BPF_PROG_TEST_RUN.
int ebpf_program_fd(const MulticastRouter& router);

// Why the ebpf backend cannot run here (the program does not load, no
// clsact), or nullopt when it can: loads the object once with tiny maps and
// unloads it.
std::optional<std::string> ebpf_unavailable_reason();

// Detaches, on every interface of this network namespace, the pmip filter
// with `handle` (kFilterPriority, program named pmip_mcast_fwd): what a
// killed run of the daemon owning that handle left (a clsact qdisc stays: it
// may hold other filters). Returns how many; one netlink query per link.
std::size_t remove_leftover_filters(std::uint32_t handle);

// The clsact qdisc of a link (pmip/common/bpf_object.hpp).
using pmip::bpf::ensure_clsact;
using pmip::bpf::remove_clsact;

// The backend a daemon's `[multicast] forwarding` setting selects.
enum class Forwarding { kAuto, kEbpf, kKernel };
const char* to_string(Forwarding forwarding);  // "auto", "ebpf", "kernel"
std::optional<Forwarding> parse_forwarding(const std::string& text);

struct ForwardingChoice {
    Forwarding backend = Forwarding::kEbpf;  // never kAuto
    std::string why;                         // one line: why this one
};
// Resolves kAuto: ebpf when its program loads, else kernel when ip6mr is
// there, else an error naming both reasons. An explicit choice is checked the
// same way (an error names what is missing).
Expected<ForwardingChoice> choose_forwarding(Forwarding wanted);

// The router of the chosen backend (`limits`: ebpf only).
Expected<std::unique_ptr<MulticastRouter>> make_multicast_router(EventLoop& loop,
                                                                 Forwarding backend,
                                                                 std::uint32_t table,
                                                                 std::uint32_t filter_handle,
                                                                 EbpfRouterLimits limits = {});

}  // namespace pmip::mcast
