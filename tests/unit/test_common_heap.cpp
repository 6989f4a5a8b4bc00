// Unit tests of reserve_heap() / heap_usage() (common/heap.hpp): what is
// reserved is held, allocations that follow take no page faults (counted by
// the kernel: getrusage ru_minflt), and freeing does not give it back. Under
// AddressSanitizer (its own allocator) the reservation is refused, named.
#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "pmip/common/heap.hpp"

namespace {

// AddressSanitizer brings its own allocator: no mallopt, nothing to reserve.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kGlibcMalloc = false;
#else
constexpr bool kGlibcMalloc = true;
#endif

long minor_faults() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
}

// n blocks of `size` octets, each written once (as a binding's node is).
std::vector<void*> allocate_touched(std::size_t n, std::size_t size) {
    std::vector<void*> blocks;
    blocks.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        auto* p = static_cast<unsigned char*>(std::malloc(size));
        if (!p) FAIL("malloc(" << size << ") failed");
        p[0] = 1;
        p[size - 1] = 1;
        blocks.push_back(p);
    }
    return blocks;
}

}  // namespace

TEST_CASE("reserve_heap: 32 MiB reserved are held, 16 MiB of 800-octet allocations after it take no page "
          "faults, and freeing them keeps the reservation",
          "[common][heap]") {
    constexpr std::size_t kReserve = 32u << 20, kBlock = 800, kBlocks = (16u << 20) / kBlock;
    const pmip::HeapReservation r = pmip::reserve_heap(kReserve);
    if (!kGlibcMalloc) {
        // What lmad then logs as a warning: nothing reserved, and why.
        CHECK(r.bytes == 0);
        CHECK(r.error.find("not glibc's malloc") != std::string::npos);
        return;
    }
    REQUIRE(r.error.empty());
    REQUIRE(r.bytes == kReserve);
    CHECK(pmip::heap_usage().held >= kReserve);

    std::vector<void*> index;
    index.reserve(kBlocks);  // the vector's own pages are not what is measured
    const long before = minor_faults();
    std::vector<void*> blocks = allocate_touched(kBlocks, kBlock);
    const long faults = minor_faults() - before;
    // Without the reservation these 16 MiB are 4,096 new pages, one fault
    // each (the control case below); the vector of pointers is 165 KiB.
    CHECK(faults < 100);
    CHECK(pmip::heap_usage().in_use >= kBlocks * kBlock);

    for (void* p : blocks) std::free(p);
    CHECK(pmip::heap_usage().held >= kReserve);

    // Control: beyond the reservation, new pages fault again.
    const long before_more = minor_faults();
    std::vector<void*> more = allocate_touched((48u << 20) / kBlock, kBlock);
    CHECK(minor_faults() - before_more > 1000);
    for (void* p : more) std::free(p);
}

TEST_CASE("reserve_heap: 0 octets reserves nothing and changes nothing", "[common][heap]") {
    const pmip::HeapReservation r = pmip::reserve_heap(0);
    CHECK(r.bytes == 0);
    CHECK(r.error.empty());
}
