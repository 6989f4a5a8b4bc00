#include "pmip/common/heap.hpp"

#include <malloc.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

namespace pmip {

namespace {
constexpr int kMallocDefaultMmapMax = 65536;  // glibc's DEFAULT_MMAP_MAX
constexpr std::size_t kPage = 4096;
}  // namespace

HeapReservation reserve_heap(std::size_t bytes) {
    HeapReservation r;
    if (bytes == 0) return r;
    if (bytes > kMaxHeapReservation) bytes = kMaxHeapReservation;
    // Keep what is freed at the top of the heap instead of giving it back
    // (the default gives back anything over 128 KiB at once) ...
    if (mallopt(M_TRIM_THRESHOLD, static_cast<int>(bytes + bytes / 2 + (64u << 20))) != 1) {
        r.error = "mallopt(M_TRIM_THRESHOLD) refused: not glibc's malloc (a sanitizer's allocator?)";
        return r;
    }
    // ... and take the block from the heap itself (brk), not from a separate
    // mapping that free() would unmap: no mmap for this one allocation.
    mallopt(M_MMAP_MAX, 0);
    auto* block = static_cast<volatile unsigned char*>(std::malloc(bytes));
    const int saved_errno = errno;
    mallopt(M_MMAP_MAX, kMallocDefaultMmapMax);
    if (!block) {
        r.error = std::string("malloc: ") + std::strerror(saved_errno);
        return r;
    }
    for (std::size_t i = 0; i < bytes; i += kPage) block[i] = 0;
    // Back into the top chunk, touched: the allocations that follow take it.
    std::free(const_cast<unsigned char*>(block));
    r.bytes = bytes;
    return r;
}

HeapUsage heap_usage() {
    const struct mallinfo2 m = mallinfo2();
    return HeapUsage{m.uordblks + m.hblkhd, m.arena + m.hblkhd};
}

}  // namespace pmip
