// BatchIo over a raw io_uring (see batch_io.hpp). Ring set-up follows the
// io_uring_setup(2) manual: one mmap for SQ and CQ rings when the kernel has
// IORING_FEAT_SINGLE_MMAP, one for the SQE array. Ring indices are shared
// with the kernel: tails we write are stored with release order, heads and
// tails the kernel writes are loaded with acquire order.
//
// Threading: one thread. Counters: none.
#include "batch_io.hpp"

#include <linux/fs.h>
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace pmip {

namespace {

int io_uring_setup(unsigned entries, io_uring_params* params) {
    return static_cast<int>(::syscall(__NR_io_uring_setup, entries, params));
}

// Waits at most kWaitLimit: every operation we queue completes at once (reads
// carry RWF_NOWAIT, device writes do not block), so running into the limit
// means something is wrong and the caller should stop using the ring.
constexpr long kWaitLimitSeconds = 2;

int io_uring_enter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags) {
    __kernel_timespec limit{kWaitLimitSeconds, 0};
    io_uring_getevents_arg arg{};
    arg.ts = reinterpret_cast<std::uint64_t>(&limit);
    return static_cast<int>(::syscall(__NR_io_uring_enter, fd, to_submit, min_complete,
                                      flags | IORING_ENTER_EXT_ARG, &arg, sizeof arg));
}

template <typename T>
T* at(void* base, std::uint32_t offset) {
    return reinterpret_cast<T*>(static_cast<char*>(base) + offset);
}

}  // namespace

Expected<std::unique_ptr<BatchIo>> BatchIo::create(unsigned capacity) {
    std::unique_ptr<BatchIo> io(new BatchIo(capacity));
    io_uring_params params{};
    io->ring_fd_ = io_uring_setup(capacity, &params);
    if (io->ring_fd_ < 0)
        return Error::from_errno("io_uring_setup");
    if (!(params.features & IORING_FEAT_SINGLE_MMAP) || !(params.features & IORING_FEAT_EXT_ARG)) {
        return Error{ENOTSUP, "io_uring without IORING_FEAT_SINGLE_MMAP / IORING_FEAT_EXT_ARG"};
    }
    const std::size_t sq_size = params.sq_off.array + params.sq_entries * sizeof(unsigned);
    const std::size_t cq_size = params.cq_off.cqes + params.cq_entries * sizeof(io_uring_cqe);
    io->sq_map_size_ = sq_size > cq_size ? sq_size : cq_size;
    io->sq_map_ = ::mmap(nullptr, io->sq_map_size_, PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_POPULATE, io->ring_fd_, IORING_OFF_SQ_RING);
    if (io->sq_map_ == MAP_FAILED) {
        io->sq_map_ = nullptr;
        return Error::from_errno("mapping the io_uring rings");
    }
    io->cq_map_ = io->sq_map_;
    io->sqes_map_size_ = params.sq_entries * sizeof(io_uring_sqe);
    io->sqes_map_ = ::mmap(nullptr, io->sqes_map_size_, PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_POPULATE, io->ring_fd_, IORING_OFF_SQES);
    if (io->sqes_map_ == MAP_FAILED) {
        io->sqes_map_ = nullptr;
        return Error::from_errno("mapping the io_uring submission entries");
    }
    io->sq_head_ = at<unsigned>(io->sq_map_, params.sq_off.head);
    io->sq_tail_ = at<unsigned>(io->sq_map_, params.sq_off.tail);
    io->sq_mask_ = *at<unsigned>(io->sq_map_, params.sq_off.ring_mask);
    io->sq_array_ = at<unsigned>(io->sq_map_, params.sq_off.array);
    io->cq_head_ = at<unsigned>(io->cq_map_, params.cq_off.head);
    io->cq_tail_ = at<unsigned>(io->cq_map_, params.cq_off.tail);
    io->cq_mask_ = *at<unsigned>(io->cq_map_, params.cq_off.ring_mask);
    io->cqes_ = at<void>(io->cq_map_, params.cq_off.cqes);
    io->capacity_ = capacity < params.sq_entries ? capacity : params.sq_entries;
    io->results_.resize(io->capacity_);
    return io;
}

BatchIo::~BatchIo() {
    if (sqes_map_ != nullptr)
        ::munmap(sqes_map_, sqes_map_size_);
    if (sq_map_ != nullptr)
        ::munmap(sq_map_, sq_map_size_);
    if (ring_fd_ >= 0)
        ::close(ring_fd_);
}

void BatchIo::add(std::uint8_t opcode, int fd, std::uint64_t address, std::size_t length,
                  int rw_flags) {
    const unsigned tail = *sq_tail_;  // only we write the tail
    const unsigned index = tail & sq_mask_;
    auto* sqe = static_cast<io_uring_sqe*>(sqes_map_) + index;
    std::memset(sqe, 0, sizeof *sqe);
    sqe->opcode = opcode;
    sqe->fd = fd;
    sqe->addr = address;
    sqe->len = static_cast<std::uint32_t>(length);
    sqe->off = static_cast<std::uint64_t>(-1);  // current position: devices and sockets
    sqe->rw_flags = rw_flags;
    sqe->user_data = added_;
    sq_array_[index] = index;
    __atomic_store_n(sq_tail_, tail + 1, __ATOMIC_RELEASE);
    ++added_;
}

void BatchIo::add_read(int fd, void* buffer, std::size_t length) {
    // RWF_NOWAIT: with nothing to read, complete now with -EAGAIN instead of
    // waiting for data (O_NONBLOCK on the fd is not enough for io_uring).
    add(IORING_OP_READ, fd, reinterpret_cast<std::uint64_t>(buffer), length, RWF_NOWAIT);
}

void BatchIo::add_write(int fd, const void* buffer, std::size_t length) {
    add(IORING_OP_WRITE, fd, reinterpret_cast<std::uint64_t>(buffer), length, 0);
}

Status BatchIo::submit_and_wait() {
    const auto wanted = static_cast<unsigned>(added_);
    done_ = 0;
    unsigned submitted = 0;
    unsigned completed = 0;
    while (completed < wanted) {
        const unsigned to_submit = wanted - submitted;
        const int r =
            io_uring_enter(ring_fd_, to_submit, wanted - completed, IORING_ENTER_GETEVENTS);
        if (r < 0 && errno == ETIME) {
            added_ = 0;
            return Error{ETIME, "io_uring operations did not complete within " +
                                    std::to_string(kWaitLimitSeconds) + " s"};
        }
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EBUSY)
                continue;
            added_ = 0;
            return Error::from_errno("io_uring_enter");
        }
        submitted += static_cast<unsigned>(r);
        unsigned head = *cq_head_;
        const unsigned tail = __atomic_load_n(cq_tail_, __ATOMIC_ACQUIRE);
        for (; head != tail; ++head) {
            const auto* cqe = static_cast<const io_uring_cqe*>(cqes_) + (head & cq_mask_);
            if (cqe->user_data < results_.size())
                results_[cqe->user_data] = cqe->res;
            ++completed;
        }
        __atomic_store_n(cq_head_, head, __ATOMIC_RELEASE);
    }
    done_ = added_;
    added_ = 0;
    return {};
}

}  // namespace pmip
