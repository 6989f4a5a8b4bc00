// BatchIo: many read(2) / write(2) calls on packet devices in one system call,
// through a minimal io_uring (no liburing). The userspace tunnel reads and
// writes its TUN devices one packet per call; with BatchIo a batch of up to
// 64 packets costs one io_uring_enter instead of 64 system calls, which
// matters where system calls are expensive (virtual machines).
//
// Use: add_read() / add_write() up to capacity(), then submit_and_wait()
// runs them (reads carry RWF_NOWAIT: with nothing queued they complete at
// once with -EAGAIN) and returns once every one has completed; results()
// gives each operation's result (bytes or -errno) in the order added. A
// submit_and_wait() that fails (or times out after 2 s) leaves the ring
// unusable: drop it and use plain read / write.
//
// create() fails where io_uring is unavailable (old kernel, seccomp,
// kernel.io_uring_disabled); callers then fall back to plain read / write.
//
// Threading: one thread (the tunnel data plane). Counters: none.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "pmip/common/result.hpp"

namespace pmip {

class BatchIo {
  public:
    static Expected<std::unique_ptr<BatchIo>> create(unsigned capacity);
    ~BatchIo();
    BatchIo(const BatchIo&) = delete;
    BatchIo& operator=(const BatchIo&) = delete;

    unsigned capacity() const { return capacity_; }
    std::size_t pending() const { return added_; }
    void add_read(int fd, void* buffer, std::size_t length);
    void add_write(int fd, const void* buffer, std::size_t length);
    // Submits what was added and waits for all of it. Fails only when the
    // ring itself fails (then the results are unknown).
    Status submit_and_wait();
    // Result of each operation of the last submit_and_wait(), in add order.
    std::span<const int> results() const { return std::span<const int>(results_.data(), done_); }

  private:
    explicit BatchIo(unsigned capacity) : capacity_(capacity) {}
    void add(std::uint8_t opcode, int fd, std::uint64_t address, std::size_t length, int rw_flags);

    unsigned capacity_;
    int ring_fd_ = -1;
    void* sq_map_ = nullptr;
    std::size_t sq_map_size_ = 0;
    void* cq_map_ = nullptr;
    void* sqes_map_ = nullptr;
    std::size_t sqes_map_size_ = 0;
    unsigned* sq_head_ = nullptr;
    unsigned* sq_tail_ = nullptr;
    unsigned sq_mask_ = 0;
    unsigned* sq_array_ = nullptr;
    unsigned* cq_head_ = nullptr;
    unsigned* cq_tail_ = nullptr;
    unsigned cq_mask_ = 0;
    void* cqes_ = nullptr;
    std::size_t added_ = 0;
    std::size_t done_ = 0;
    std::vector<int> results_;
};

}  // namespace pmip
