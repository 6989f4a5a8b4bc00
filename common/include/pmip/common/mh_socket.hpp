// The Mobility Header socket of both daemons: a raw AF_INET6 socket for protocol 135 on
// the EventLoop, plus a send-only raw ICMPv6 socket for Parameter Problems.
//
// RFC 6275 section 6.1.1: the kernel computes and verifies the MH checksum
// (IPV6_CHECKSUM offset 4, set explicitly; bad checksums never reach us).
// IPV6_RECVPKTINFO tells which of our addresses a packet was sent to (PBAs go
// back from that address, RFC 5213 section 5.3.6); sends set the source with
// an IPV6_PKTINFO control message. Receiving drains the socket with
// recvmmsg() in batches of kBatch and hands each packet to the handler; the
// fd is level-triggered, so a long queue is served over several loop turns
// (kMaxBatchesPerWakeup) without starving timers and the control socket.
// Around each batch read the socket calls the batch hooks (lmad's engine
// collects the routes of the batch's PBUs and holds its PBAs in between),
// and what is sent from the first hook to the end of the second is queued
// and leaves in sendmmsg() calls of up to kBatch messages after it.
//
// The kernel has no API to make a raw MH socket answer with an ICMPv6 error,
// so a raw ICMPv6 socket (receiving nothing: ICMP6_FILTER blocks every type)
// sends the Parameter Problems of RFC 6275 section 9.2; the kernel fills the
// ICMPv6 checksum.
//
// Counters (counters()): rx_packets, rx_batches, rx_truncated (over
// kBufferSize, dropped), rx_no_pktinfo (dropped), rx_errors,
// rx_queue_overflows (packets the kernel dropped for this socket, SO_RXQ_OVFL
// as of the last packet read: a full queue, and also bad checksums), rx_shed_stale (waited in
// the queue longer than max_queue_delay: dropped unanswered), tx_packets,
// tx_errors, tx_serialize_errors, tx_batches (sendmmsg calls), icmp_sent,
// icmp_errors, icmp_unavailable.
//
// Threading: loop thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include <nlohmann/json.hpp>

#include <span>

#include "pmip/common/ip.hpp"
#include "pmip/mh/codec.hpp"
#include "pmip/mh/messages.hpp"
#include "pmip/common/event_loop.hpp"
#include "pmip/common/result.hpp"

namespace pmip {

// Sends Mobility Header messages (the engines' only way out; a recorder in
// tests, MhSocket in the daemons).
class MhSender {
  public:
    virtual ~MhSender() = default;
    virtual void send(const Ipv6Address& source, const Ipv6Address& destination,
                      const mh::Message& message) = 0;
};

// One packet from the MH socket: the IPv6 payload, which starts at the MH.
struct ReceivedPacket {
    std::span<const std::uint8_t> mh;
    Ipv6Address source{};
    Ipv6Address destination{};
    int ifindex = 0;
    std::uint8_t hop_limit = 64;
    std::uint8_t traffic_class = 0;
};

// Sends what a receiver answers itself (the MH socket in the daemons, a
// recorder in tests).
class MhTransmitter : public MhSender {
  public:
    // ICMPv6 Parameter Problem, code 0 (erroneous header field), from `source`.
    virtual void send_parameter_problem(const Ipv6Address& source, const Ipv6Address& destination,
                                        std::uint32_t pointer,
                                        std::span<const std::uint8_t> invoking_packet) = 0;
};


class MhSocket final : public MhTransmitter {
  public:
    static constexpr std::size_t kBatch = 64;
    static constexpr std::size_t kBufferSize = 4096;  // an MH is at most 2048 octets
    static constexpr std::size_t kMaxBatchesPerWakeup = 16;

    using Handler = std::function<void(const ReceivedPacket&)>;

    // Opens both sockets and registers the MH socket in `loop`. Packets
    // received before set_handler() are dropped.
    static Expected<std::unique_ptr<MhSocket>> open(EventLoop& loop);
    ~MhSocket() override;
    MhSocket(const MhSocket&) = delete;
    MhSocket& operator=(const MhSocket&) = delete;

    void set_handler(Handler handler) { handler_ = std::move(handler); }
    // Called before the first and after the last packet of each batch read
    // (either may be empty).
    void set_batch_hooks(std::function<void()> begin, std::function<void()> end) {
        batch_begin_ = std::move(begin);
        batch_end_ = std::move(end);
    }
    // Code points of the draft-asaeda extension used when serializing
    // (magd/lmad [multicast] pbu-m-flag, pbu-m-option).
    void set_code_points(const mh::ExtensionCodePoints& code_points) { serialize_config_.code_points = code_points; }
    // Packets that waited longer than this in the socket's queue (an
    // overload's backlog) are dropped unread by the handler and counted
    // (rx_shed_stale). Zero: none dropped.
    // Receive timestamps (SO_TIMESTAMPNS, CLOCK_REALTIME: a step of the
    // wall clock can shed or keep one batch wrongly) are asked for only then.
    void set_max_queue_delay(Duration delay);

    // MhSender: serializes and sends from `source` (must be one of ours).
    void send(const Ipv6Address& source, const Ipv6Address& destination,
              const mh::Message& message) override;
    void send_parameter_problem(const Ipv6Address& source, const Ipv6Address& destination,
                                std::uint32_t pointer,
                                std::span<const std::uint8_t> invoking_packet) override;

    nlohmann::json counters() const;

  private:
    struct Buffers;
    struct SendQueue;
    MhSocket(EventLoop& loop, int mh_fd, int icmp_fd);
    void on_readable();
    void flush_sends();
    bool send_from(int fd, const Ipv6Address& source, const Ipv6Address& destination,
                   std::span<const std::uint8_t> data);

    EventLoop& loop_;
    int mh_fd_ = -1;
    int icmp_fd_ = -1;
    Handler handler_;
    std::function<void()> batch_begin_, batch_end_;
    mh::SerializeConfig serialize_config_;
    std::unique_ptr<Buffers> buffers_;
    std::unique_ptr<SendQueue> send_queue_;
    bool corked_ = false;  // inside a receive batch: sends are queued
    Duration max_queue_delay_{};
    struct {
        std::uint64_t rx_packets = 0, rx_batches = 0, rx_truncated = 0, rx_no_pktinfo = 0,
                      rx_errors = 0, tx_packets = 0, tx_errors = 0, tx_serialize_errors = 0,
                      icmp_sent = 0, icmp_errors = 0, icmp_unavailable = 0, tx_batches = 0,
                      rx_queue_overflows = 0, rx_shed_stale = 0;
    } counters_;
};

}  // namespace pmip
