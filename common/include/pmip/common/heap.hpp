// The process heap (glibc malloc): memory reserved up front for an expected
// load, and what is in use, for `show counters`.
//
// Why reserve: a daemon that grows its heap while it works takes one page
// fault per new 4 KiB page it touches. On this project's virtual machines a
// fault costs about 6 us (bench_lmad.sh: ~20,000 faults while lmad registered
// 100,000 MNs, 6.8% of its time under perf), and it is paid inside the PBU
// path. reserve_heap() touches the pages once at start and tells malloc to
// keep them (M_TRIM_THRESHOLD above the reservation), so allocations that
// follow reuse them.
//
// Threading: call reserve_heap() from the main thread before the loop runs;
// it reserves in the main arena, the one the loop thread allocates from.
#pragma once

#include <cstddef>
#include <string>

namespace pmip {

struct HeapReservation {
    std::size_t bytes = 0;  // reserved and touched (0 when it failed)
    std::string error;      // why not, or empty
};

// Touches `bytes` of heap and keeps it for later allocations; at most
// kMaxHeapReservation (malloc's trim threshold is an int).
inline constexpr std::size_t kMaxHeapReservation = std::size_t{1} << 30;
HeapReservation reserve_heap(std::size_t bytes);

struct HeapUsage {
    std::size_t in_use = 0;  // allocated and not freed (mallinfo2 uordblks + hblkhd)
    std::size_t held = 0;    // obtained from the kernel and not given back (arena + hblkhd)
};
HeapUsage heap_usage();

}  // namespace pmip
