// Userspace tunnel backend (DESIGN.md section 4): for kernels without
// ip6tnl / ip6gre. Each tunnel is a TUN device (IFF_TUN | IFF_NO_PI,
// non-blocking) named as the manager says, with MTU = tunnel_mtu(path MTU)
// and brought up, so it carries routes, MLD and multicast routing (MIF) like
// any device. Two raw IPv6 sockets shared by all tunnels, protocol 41 (IPv6
// in IPv6, RFC 2473) and 47 (GRE, RFC 2784 / 2890, keys RFC 5845), unbound,
// with IPV6_RECVPKTINFO (outer destination) and IPV6_RECVTCLASS (outer ECN).
//
// Data plane (a private thread with its own epoll, never the daemon's loop):
// - device -> peer: read up to 64 packets per batch until EAGAIN, apply
//   classify_outgoing() (link-local filter, RFC 2473 section 7.1 size rule,
//   Packet Too Big written back into the device), prepend the GRE header in
//   the slot's headroom, send the batch with sendmmsg; per packet ancillary
//   data give the outer source (IPV6_PKTINFO = tunnel local address), Traffic
//   Class (RFC 3168 section 9.1.1) and hop limit (options.hop_limit, RFC 2473
//   section 6.3). Flow label 0 (section 6.5).
// - peer -> device: recvmmsg up to 64 packets; the kernel strips the outer
//   IPv6 header (and its extension headers); the tunnel is found by (kind of
//   socket, outer source = peer, outer destination = local, GRE key when the
//   tunnel has an input key); GRE headers are checked and stripped; ECN is
//   propagated; the inner packet is written to the device.
// The loop thread hands tunnels to the data plane through a mutex-protected
// queue and an eventfd and waits for the acknowledgement, so a device's fd is
// closed only once the data plane has forgotten it.
//
// Counters: per tunnel TunnelCounters (atomics, relaxed); backend-wide
// statistics(): unknown_peer (no tunnel for the outer source / destination /
// key), rx_malformed (bad GRE header or inner packet before a tunnel is known),
// rx_errors (socket receive errors), device_write_errors.
//
// Threading: create / destroy / remove_stale / counters / statistics on the
// loop thread; the data-plane thread owns its epoll, buffers and lookup table
// and runs with every signal blocked (signals belong to the loop's signalfd).
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>

#include "batch_io.hpp"
#include "pmip/common/fd.hpp"
#include "pmip/common/log.hpp"
#include "pmip/common/raw_socket.hpp"
#include "pmip/common/tunnel.hpp"
#include "tunnel_packet.hpp"

namespace pmip {

namespace {

namespace tp = tunnel_packet;

constexpr int kBatch = 64;
constexpr int kRoundsPerWakeup = 8;  // batches per ready fd before looking at the others
constexpr int kDrainRounds = 64;     // batches read before a tunnel behind programs comes up
constexpr std::size_t kHeadroom = tp::kGreMaxBuiltHeaderSize;
constexpr std::size_t kSlotSize = 65536 + kHeadroom;
constexpr int kSocketBuffer = 4 * 1024 * 1024;
constexpr unsigned kDeviceQueueLength = 1000;

constexpr std::uint64_t kEventCommand = 1;
constexpr std::uint64_t kEventRawIp6Ip6 = 2;
constexpr std::uint64_t kEventRawGre = 3;
constexpr std::uint64_t kFirstTunnelId = 16;

// Space for IPV6_PKTINFO + IPV6_TCLASS + IPV6_HOPLIMIT.
constexpr std::size_t kControlSize = CMSG_SPACE(sizeof(in6_pktinfo)) + 2 * CMSG_SPACE(sizeof(int));


struct AtomicTunnelCounters {
    std::atomic<std::uint64_t> tx_packets{0}, tx_bytes{0}, rx_packets{0}, rx_bytes{0};
    std::atomic<std::uint64_t> drop_too_big{0}, drop_link_local{0}, drop_malformed{0},
        drop_send_error{0}, drop_not_up{0}, drop_ecn{0};

    TunnelCounters snapshot() const {
        constexpr auto r = std::memory_order_relaxed;
        TunnelCounters c;
        c.tx_packets = tx_packets.load(r);
        c.tx_bytes = tx_bytes.load(r);
        c.rx_packets = rx_packets.load(r);
        c.rx_bytes = rx_bytes.load(r);
        c.drop_too_big = drop_too_big.load(r);
        c.drop_link_local = drop_link_local.load(r);
        c.drop_malformed = drop_malformed.load(r);
        c.drop_send_error = drop_send_error.load(r);
        c.drop_not_up = drop_not_up.load(r);
        c.drop_ecn = drop_ecn.load(r);
        return c;
    }
};

void bump(std::atomic<std::uint64_t>& counter, std::uint64_t by = 1) {
    counter.fetch_add(by, std::memory_order_relaxed);
}

// What both threads know of a tunnel. Immutable once handed to the data
// plane, except the counters.
struct Tunnel {
    TunnelKey key;
    std::string name;
    Fd device;
    int ifindex = 0;
    unsigned mtu = 0;
    std::uint8_t hop_limit = 64;
    bool behind_programs = false;  // TunnelOptions::behind_programs: bring_up drains first
    std::uint64_t id = 0;
    sockaddr_in6 peer_address{};
    AtomicTunnelCounters counters;
    std::atomic<bool> up{true};  // false while prepared: what arrives is dropped, counted
    unsigned read_hint = 8;  // data plane only: reads to batch next time
};

// How the data plane finds the tunnel of a received packet.
struct LookupKey {
    TunnelKind kind = TunnelKind::kIp6Ip6;
    Ipv6Address peer{};
    Ipv6Address local{};
    std::optional<std::uint32_t> input_key;
    auto operator<=>(const LookupKey&) const = default;
};

LookupKey lookup_key(const TunnelKey& key) {
    return LookupKey{key.kind, key.peer, key.local,
                     key.kind == TunnelKind::kGre ? key.input_key : std::nullopt};
}

enum class CommandType : std::uint8_t { kAdd, kUp, kRemove, kStop };

struct Command {
    CommandType type = CommandType::kStop;
    std::shared_ptr<Tunnel> tunnel;
    std::promise<void> done;
};

Expected<Fd> open_raw_socket(int protocol) {
    Fd fd(::socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol));
    if (fd.get() < 0) {
        return Error::from_errno("opening raw IPv6 socket for protocol " +
                                 std::to_string(protocol));
    }
    const int on = 1;
    if (::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on) < 0 ||
        ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_RECVTCLASS, &on, sizeof on) < 0) {
        return Error::from_errno("setting IPV6_RECVPKTINFO / IPV6_RECVTCLASS");
    }
    // Large buffers absorb bursts; FORCE needs CAP_NET_ADMIN, else the
    // ordinary (capped) size is the best we get.
    (void)set_socket_buffer(fd.get(), true, kSocketBuffer);
    (void)set_socket_buffer(fd.get(), false, kSocketBuffer);
    return fd;
}

Status interface_ioctl(int control_socket, unsigned long request, ifreq& request_data,
                       const std::string& what) {
    if (::ioctl(control_socket, request, &request_data) < 0) {
        return Error::from_errno(what + " of " + request_data.ifr_name);
    }
    return {};
}

// Deletes a link by ifindex with RTM_DELLINK and waits for the answer.
Status delete_link(int ifindex, const std::string& name) {
    Fd nl(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    if (nl.get() < 0)
        return Error::from_errno("opening rtnetlink socket");
    struct {
        nlmsghdr header;
        ifinfomsg info;
    } request{};
    request.header.nlmsg_len = sizeof request;
    request.header.nlmsg_type = RTM_DELLINK;
    request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    request.header.nlmsg_seq = 1;
    request.info.ifi_family = AF_UNSPEC;
    request.info.ifi_index = ifindex;
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (::sendto(nl.get(), &request, sizeof request, 0, reinterpret_cast<sockaddr*>(&kernel),
                 sizeof kernel) < 0) {
        return Error::from_errno("sending RTM_DELLINK for " + name);
    }
    alignas(nlmsghdr) char answer[4096];
    const ssize_t n = ::recv(nl.get(), answer, sizeof answer, 0);
    if (n < 0)
        return Error::from_errno("reading the answer to RTM_DELLINK for " + name);
    const auto* reply = reinterpret_cast<const nlmsghdr*>(answer);
    if (n >= static_cast<ssize_t>(sizeof(nlmsghdr) + sizeof(nlmsgerr)) &&
        reply->nlmsg_type == NLMSG_ERROR) {
        const auto* error = static_cast<const nlmsgerr*>(NLMSG_DATA(reply));
        if (error->error != 0)
            return Error::from_errno("deleting link " + name, -error->error);
    }
    return {};
}

class UserspaceTunnelBackend final : public TunnelBackend {
  public:
    UserspaceTunnelBackend(Fd raw_ip6ip6, Fd raw_gre, Fd control, Fd epoll, Fd command_event)
        : raw_ip6ip6_(std::move(raw_ip6ip6)),
          raw_gre_(std::move(raw_gre)),
          control_(std::move(control)),
          epoll_(std::move(epoll)),
          command_event_(std::move(command_event)),
          tx_slots_(static_cast<std::size_t>(kBatch) * kSlotSize),
          rx_slots_(static_cast<std::size_t>(kBatch) * kSlotSize) {
        if (auto io = BatchIo::create(kBatch); io) {
            batch_io_ = std::move(*io);
        } else {
            PMIP_INFO(kTunnel, "[tunnel data plane]",
                      "io_uring unavailable (" + io.error().what +
                          "): one system call per device read and write");
        }
        // The data plane takes no process signals: the daemon's loop blocks
        // the ones it handles and reads them from a signalfd, which works only
        // if no other thread leaves them unblocked.
        sigset_t all, previous;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &previous);
        thread_ = std::thread([this] { run(); });
        pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    }

    ~UserspaceTunnelBackend() override {
        post(CommandType::kStop, nullptr);
        thread_.join();
        reap_closers(true);
        // Remaining devices vanish with their fds (TUN devices are not persistent).
    }

    std::string_view name() const override { return "userspace"; }

    Expected<int> create(const TunnelKey& key, const std::string& device_name,
                         const TunnelOptions& options, bool up) override {
        if (tunnels_.contains(key))
            return Error{EEXIST, "tunnel " + device_name + " exists"};
        for (const auto& [other_key, other] : tunnels_) {
            if (lookup_key(other_key) == lookup_key(key)) {
                return Error{EADDRINUSE, "tunnel " + other->name +
                                             " already receives from the same peer, local "
                                             "address and key as " +
                                             device_name};
            }
        }
        if (device_name.empty() || device_name.size() >= IFNAMSIZ) {
            return Error{EINVAL, "bad device name '" + device_name + "'"};
        }
        reap_closers(false, device_name);  // a device of this name may still be closing
        auto tunnel = std::make_shared<Tunnel>();
        tunnel->key = key;
        tunnel->name = device_name;
        tunnel->mtu = tunnel_mtu(key, options.path_mtu);
        tunnel->hop_limit = options.hop_limit;
        tunnel->behind_programs = options.behind_programs;
        tunnel->id = next_id_++;
        tunnel->peer_address.sin6_family = AF_INET6;
        std::memcpy(&tunnel->peer_address.sin6_addr, key.peer.data(), 16);

        tunnel->device = Fd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
        if (tunnel->device.get() < 0)
            return Error::from_errno("opening /dev/net/tun");
        ifreq request{};
        std::strncpy(request.ifr_name, device_name.c_str(), IFNAMSIZ - 1);
        request.ifr_flags = IFF_TUN | IFF_NO_PI;
        if (::ioctl(tunnel->device.get(), TUNSETIFF, &request) < 0) {
            return Error::from_errno("creating TUN device " + device_name);
        }
        tunnel->up.store(up, std::memory_order_relaxed);
        if (auto s = configure_device(device_name, tunnel->mtu, up, tunnel->ifindex); !s) {
            return s.error();  // the device goes away with its fd
        }
        const int ifindex = tunnel->ifindex;
        // Not waited for: the device works at once (what the kernel routes
        // into it waits in its queue until the data plane reads it), and a
        // handover's PBA must not wait for the data-plane thread to be
        // scheduled (15 ms seen on a loaded 2-core machine). Commands run in
        // order, so a later destroy() still finds the tunnel registered.
        post(CommandType::kAdd, tunnel, false);
        tunnels_.emplace(key, std::move(tunnel));
        return ifindex;
    }

    Status destroy(const TunnelKey& key, const std::string& device_name) override {
        auto it = tunnels_.find(key);
        if (it == tunnels_.end())
            return Error{ENODEV, "no tunnel " + device_name};
        post(CommandType::kRemove, it->second);
        // Ours is now the last reference. Closing the fd unregisters the
        // device, and the kernel waits for an RCU grace period (about 30 ms
        // here): done on a short-lived thread, so the loop -- a handover's
        // PBA -- never waits for it. create() of the same name and the
        // destructor wait for it.
        std::shared_ptr<Tunnel> tunnel = std::move(it->second);
        tunnels_.erase(it);
        reap_closers(false);
        auto done = std::make_shared<std::atomic<bool>>(false);
        sigset_t all, previous;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &previous);
        closers_.push_back({device_name, std::thread([tunnel = std::move(tunnel), done]() mutable {
                                tunnel.reset();
                                done->store(true);
                            }),
                            done});
        pthread_sigmask(SIG_SETMASK, &previous, nullptr);
        return {};
    }

    // Joins the closing threads that are done (all of them with `all`, and
    // the one closing `name` whether done or not).
    void reap_closers(bool all, const std::string& name = {}) {
        for (auto it = closers_.begin(); it != closers_.end();) {
            if (all || it->done->load() || (!name.empty() && it->name == name)) {
                it->thread.join();
                it = closers_.erase(it);
            } else {
                ++it;
            }
        }
    }

    Expected<std::size_t> remove_stale(const std::string& prefix) override {
        const std::string cut = prefix.substr(0, kMaxTunnelNamePrefix);
        if (cut.empty())
            return Error{EINVAL, "empty tunnel name prefix"};
        struct if_nameindex* names = ::if_nameindex();
        if (names == nullptr)
            return Error::from_errno("listing interfaces");
        std::vector<std::pair<int, std::string>> stale;
        for (auto* n = names; n->if_index != 0 && n->if_name != nullptr; ++n) {
            const std::string name = n->if_name;
            if (!name.starts_with(cut + "6-") && !name.starts_with(cut + "g-"))
                continue;
            const bool ours = std::any_of(tunnels_.begin(), tunnels_.end(),
                                          [&](const auto& t) { return t.second->name == name; });
            if (!ours)
                stale.emplace_back(static_cast<int>(n->if_index), name);
        }
        ::if_freenameindex(names);
        std::size_t removed = 0;
        Error last;
        for (const auto& [ifindex, name] : stale) {
            if (auto s = delete_link(ifindex, name); s) {
                ++removed;
                PMIP_INFO(kTunnel, "[tunnel " + name + "]", "removed stale device");
            } else if (s.error().code != ENODEV) {
                last = s.error();
                PMIP_WARNING(kTunnel, "[tunnel " + name + "]",
                             "could not remove stale device: " + s.error().what);
            }
        }
        if (!last.what.empty() && removed == 0)
            return last;
        return removed;
    }

    TunnelCounters counters(const TunnelKey& key) const override {
        auto it = tunnels_.find(key);
        return it == tunnels_.end() ? TunnelCounters{} : it->second->counters.snapshot();
    }

    std::map<std::string, std::uint64_t> statistics() const override {
        constexpr auto r = std::memory_order_relaxed;
        return {{"unknown_peer", unknown_peer_.load(r)},
                {"rx_malformed", rx_malformed_.load(r)},
                {"rx_errors", rx_errors_.load(r)},
                {"device_write_errors", device_write_errors_.load(r)}};
    }

    Status bring_up(const TunnelKey& key, const std::string& device_name) override {
        auto it = tunnels_.find(key);
        if (it == tunnels_.end())
            return Error{ENODEV, "no tunnel " + device_name};
        if (auto s = set_up(device_name); !s)
            return s;
        if (it->second->behind_programs) {
            post(CommandType::kUp, it->second, false);  // not waited for, as kAdd
        } else {
            it->second->up.store(true, std::memory_order_relaxed);
        }
        return {};
    }

  private:
    Status set_up(const std::string& device_name) {
        ifreq request{};
        std::strncpy(request.ifr_name, device_name.c_str(), IFNAMSIZ - 1);
        if (auto s = interface_ioctl(control_.get(), SIOCGIFFLAGS, request, "reading flags"); !s) {
            return s;
        }
        request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP | IFF_MULTICAST);
        return interface_ioctl(control_.get(), SIOCSIFFLAGS, request, "bringing up");
    }

    Status configure_device(const std::string& device_name, unsigned mtu, bool up, int& ifindex) {
        ifreq request{};
        std::strncpy(request.ifr_name, device_name.c_str(), IFNAMSIZ - 1);
        request.ifr_mtu = static_cast<int>(mtu);
        if (auto s = interface_ioctl(control_.get(), SIOCSIFMTU, request, "setting the MTU"); !s) {
            return s;
        }
        request.ifr_qlen = static_cast<int>(kDeviceQueueLength);
        (void)interface_ioctl(control_.get(), SIOCSIFTXQLEN, request, "setting the queue length");
        // A TUN device has no hardware address, so the kernel gives it no
        // link-local address by default; MLD on the tunnel needs one (RFC
        // 3810 section 5: reports and queries come from a link-local
        // source; RFC 6224 section 5). addr_gen_mode 3 = a random interface
        // identifier, set before the device comes up. The device is NOARP,
        // so the address is usable at once (no DAD).
        {
            const std::string path = "/proc/sys/net/ipv6/conf/" + device_name + "/addr_gen_mode";
            std::FILE* f = std::fopen(path.c_str(), "w");
            if (f == nullptr || std::fputs("3\n", f) < 0) {
                PMIP_WARNING(kTunnel, "[tunnel " + device_name + "]",
                             "no link-local address (writing " + path + ": " + std::strerror(errno) +
                                 "): MLD cannot run on this tunnel");
            }
            if (f != nullptr)
                std::fclose(f);
        }
        if (up) {
            if (auto s = set_up(device_name); !s)
                return s;
        }
        if (auto s = interface_ioctl(control_.get(), SIOCGIFINDEX, request, "reading ifindex");
            !s) {
            return s;
        }
        ifindex = request.ifr_ifindex;
        return {};
    }

    // Loop thread: queues a command and, if `wait`, waits until the data
    // plane did it.
    void post(CommandType type, std::shared_ptr<Tunnel> tunnel, bool wait = true) {
        Command command;
        command.type = type;
        command.tunnel = std::move(tunnel);
        std::future<void> done = command.done.get_future();
        {
            std::lock_guard lock(commands_mutex_);
            commands_.push_back(std::move(command));
        }
        const std::uint64_t one = 1;
        while (::write(command_event_.get(), &one, sizeof one) < 0 && errno == EINTR) {
        }
        if (wait)
            done.wait();
    }

    // ---- data-plane thread ----

    void run() {
        add_to_epoll(command_event_.get(), kEventCommand);
        add_to_epoll(raw_ip6ip6_.get(), kEventRawIp6Ip6);
        add_to_epoll(raw_gre_.get(), kEventRawGre);
        prepare_messages();
        epoll_event events[64];
        while (!stopping_) {
            const int n = ::epoll_wait(epoll_.get(), events, 64, -1);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                PMIP_ERROR(kTunnel, "[tunnel data plane]",
                           "epoll_wait failed: " + std::string(std::strerror(errno)));
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
                continue;
            }
            for (int i = 0; i < n && !stopping_; ++i) {
                const std::uint64_t id = events[i].data.u64;
                if (id == kEventCommand) {
                    run_commands();
                } else if (id == kEventRawIp6Ip6) {
                    receive(raw_ip6ip6_.get(), TunnelKind::kIp6Ip6);
                } else if (id == kEventRawGre) {
                    receive(raw_gre_.get(), TunnelKind::kGre);
                } else if (auto it = by_id_.find(id); it != by_id_.end()) {
                    read_device(*it->second);
                }
            }
        }
    }

    void add_to_epoll(int fd, std::uint64_t id) {
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.u64 = id;
        if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) < 0) {
            PMIP_ERROR(kTunnel, "[tunnel data plane]",
                       "epoll_ctl ADD failed: " + std::string(std::strerror(errno)));
        }
    }

    void run_commands() {
        std::uint64_t value = 0;
        (void)!::read(command_event_.get(), &value, sizeof value);
        std::deque<Command> commands;
        {
            std::lock_guard lock(commands_mutex_);
            commands.swap(commands_);
        }
        for (auto& command : commands) {
            switch (command.type) {
                case CommandType::kAdd: {
                    auto& t = command.tunnel;
                    add_to_epoll(t->device.get(), t->id);
                    by_id_.emplace(t->id, t);
                    by_lookup_.emplace(lookup_key(t->key), t);
                    break;
                }
                case CommandType::kUp: {
                    // What waits in the tunnel kind's socket arrived before
                    // the programs took the tunnel's packets: read now, while
                    // it is not up, it is dropped (drop_not_up), not written
                    // behind them.
                    const TunnelKind kind = command.tunnel->key.kind;
                    drain(kind == TunnelKind::kGre ? raw_gre_.get() : raw_ip6ip6_.get(), kind);
                    command.tunnel->up.store(true, std::memory_order_relaxed);
                    break;
                }
                case CommandType::kRemove: {
                    auto& t = command.tunnel;
                    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, t->device.get(), nullptr);
                    by_id_.erase(t->id);
                    by_lookup_.erase(lookup_key(t->key));
                    break;
                }
                case CommandType::kStop:
                    stopping_ = true;
                    by_id_.clear();
                    by_lookup_.clear();
                    break;
            }
            command.tunnel.reset();  // drop our reference before acknowledging
            command.done.set_value();
        }
    }

    void prepare_messages() {
        for (int i = 0; i < kBatch; ++i) {
            auto& tx = tx_messages_[i].msg_hdr;
            tx.msg_iov = &tx_iov_[i];
            tx.msg_iovlen = 1;
            tx.msg_namelen = sizeof(sockaddr_in6);
            tx.msg_control = tx_control_[i];
            auto& rx = rx_messages_[i].msg_hdr;
            rx_iov_[i].iov_base = rx_slots_.data() + static_cast<std::size_t>(i) * kSlotSize;
            rx_iov_[i].iov_len = kSlotSize;
            rx.msg_iov = &rx_iov_[i];
            rx.msg_iovlen = 1;
        }
    }

    std::uint8_t* tx_slot(int i) {
        return tx_slots_.data() + static_cast<std::size_t>(i) * kSlotSize;
    }

    // Device -> peer.
    void read_device(Tunnel& t) {
        const int raw = t.key.kind == TunnelKind::kGre ? raw_gre_.get() : raw_ip6ip6_.get();
        const std::size_t gre_size =
            t.key.kind == TunnelKind::kGre ? tp::gre_header_size(t.key.output_key) : 0;
        for (int round = 0; round < kRoundsPerWakeup; ++round) {
            int count = 0;
            bool drained = false;
            std::uint64_t bytes = 0;
            auto take = [&](int slot_index, std::size_t length) {
                std::uint8_t* slot = tx_slot(slot_index);
                std::span<std::uint8_t> packet(slot + kHeadroom, length);
                switch (tp::classify_outgoing(packet, t.mtu)) {
                    case tp::OutgoingVerdict::kDropMalformed:
                        bump(t.counters.drop_malformed);
                        return;
                    case tp::OutgoingVerdict::kDropLinkLocal:
                        bump(t.counters.drop_link_local);
                        return;
                    case tp::OutgoingVerdict::kPacketTooBig:
                        send_packet_too_big(t, packet);
                        return;
                    case tp::OutgoingVerdict::kEncapsulate:
                        break;
                }
                packet = packet.first(tp::packet_length(*tp::parse_ipv6_header(packet)));
                const std::uint8_t tclass =
                    tp::encapsulation_traffic_class(tp::traffic_class(packet));
                std::uint8_t* start = slot + kHeadroom - gre_size;
                if (gre_size != 0) {
                    tp::write_gre_header(std::span<std::uint8_t>(start, gre_size),
                                         t.key.output_key);
                }
                tx_iov_[count].iov_base = start;
                tx_iov_[count].iov_len = packet.size() + gre_size;
                fill_send_header(count, t, tclass);
                bytes += packet.size();
                ++count;
            };
            if (batch_io_) {
                // One io_uring_enter for a batch of reads; on the non-blocking
                // device a read with nothing queued completes with -EAGAIN.
                const unsigned wanted = t.read_hint;
                for (unsigned i = 0; i < wanted; ++i) {
                    batch_io_->add_read(t.device.get(), tx_slot(static_cast<int>(i)) + kHeadroom,
                                        kSlotSize - kHeadroom);
                }
                if (auto status = batch_io_->submit_and_wait(); !status) {
                    drop_batch_io(status.error());
                    return;  // epoll reports the device again: plain reads then
                }
                unsigned got = 0;
                bool unsupported = false;
                const auto results = batch_io_->results();
                for (std::size_t i = 0; i < results.size(); ++i) {
                    if (results[i] > 0) {
                        ++got;
                        take(static_cast<int>(i), static_cast<std::size_t>(results[i]));
                    } else if (results[i] == -EOPNOTSUPP || results[i] == -EINVAL) {
                        unsupported = true;  // no RWF_NOWAIT reads on this kernel
                    } else if (results[i] != -EAGAIN && results[i] != -EINTR) {
                        bump(rx_errors_);
                    }
                }
                if (unsupported) {
                    drop_batch_io(Error{EOPNOTSUPP, "RWF_NOWAIT reads of the TUN device refused"});
                }
                drained = got < wanted;
                t.read_hint = std::clamp(got * 2, 4u, static_cast<unsigned>(kBatch));
            } else {
                for (int i = 0; i < kBatch; ++i) {
                    const ssize_t n =
                        ::read(t.device.get(), tx_slot(i) + kHeadroom, kSlotSize - kHeadroom);
                    if (n < 0) {
                        if (errno == EINTR)
                            continue;
                        if (errno != EAGAIN && errno != EWOULDBLOCK)
                            bump(rx_errors_);
                        drained = true;
                        break;
                    }
                    take(i, static_cast<std::size_t>(n));
                }
            }
            if (count > 0)
                send_batch(raw, t, count, bytes, gre_size);
            if (drained)
                return;
        }
    }

    void fill_send_header(int i, const Tunnel& t, std::uint8_t tclass) {
        msghdr& m = tx_messages_[i].msg_hdr;
        m.msg_name = const_cast<sockaddr_in6*>(&t.peer_address);
        m.msg_namelen = sizeof(sockaddr_in6);
        m.msg_control = tx_control_[i];
        m.msg_controllen = kControlSize;
        std::memset(tx_control_[i], 0, kControlSize);
        cmsghdr* c = CMSG_FIRSTHDR(&m);
        std::size_t used = 0;
        if (!is_unspecified(t.key.local)) {
            c->cmsg_level = IPPROTO_IPV6;
            c->cmsg_type = IPV6_PKTINFO;
            c->cmsg_len = CMSG_LEN(sizeof(in6_pktinfo));
            in6_pktinfo info{};
            std::memcpy(&info.ipi6_addr, t.key.local.data(), 16);
            std::memcpy(CMSG_DATA(c), &info, sizeof info);
            used += CMSG_SPACE(sizeof(in6_pktinfo));
            c = CMSG_NXTHDR(&m, c);
        }
        const int values[2] = {tclass, t.hop_limit};
        const int types[2] = {IPV6_TCLASS, IPV6_HOPLIMIT};
        for (int k = 0; k < 2; ++k) {
            c->cmsg_level = IPPROTO_IPV6;
            c->cmsg_type = types[k];
            c->cmsg_len = CMSG_LEN(sizeof(int));
            std::memcpy(CMSG_DATA(c), &values[k], sizeof(int));
            used += CMSG_SPACE(sizeof(int));
            if (k == 0)
                c = CMSG_NXTHDR(&m, c);
        }
        m.msg_controllen = used;
    }

    void send_batch(int raw, Tunnel& t, int count, std::uint64_t bytes, std::size_t header_size) {
        int offset = 0;
        int failed = 0;
        std::uint64_t failed_bytes = 0;
        bool waited = false;
        while (offset < count) {
            const int sent =
                ::sendmmsg(raw, tx_messages_ + offset, static_cast<unsigned>(count - offset), 0);
            if (sent > 0) {
                offset += sent;
                waited = false;
                continue;
            }
            if (sent < 0 && errno == EINTR)
                continue;
            if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) &&
                !waited) {
                // Socket buffer full: give the device below a moment, once.
                pollfd p{raw, POLLOUT, 0};
                (void)::poll(&p, 1, 5);
                waited = true;
                continue;
            }
            // This message failed: count it and go on with the next.
            ++failed;
            failed_bytes += tx_iov_[offset].iov_len - header_size;
            ++offset;
            waited = false;
        }
        if (failed != 0)
            bump(t.counters.drop_send_error, static_cast<std::uint64_t>(failed));
        bump(t.counters.tx_packets, static_cast<std::uint64_t>(count - failed));
        bump(t.counters.tx_bytes, bytes - failed_bytes);
    }

    void send_packet_too_big(Tunnel& t, std::span<const std::uint8_t> packet) {
        bump(t.counters.drop_too_big);
        if (is_unspecified(t.key.local))
            return;  // no address of ours to answer from
        std::uint8_t answer[tp::kMinimumMtu];
        const std::size_t size = tp::build_packet_too_big(
            packet, t.key.local, tp::packet_too_big_mtu(t.mtu), std::span<std::uint8_t>(answer));
        if (size == 0)
            return;
        if (::write(t.device.get(), answer, size) < 0)
            bump(device_write_errors_);
    }

    // Peer -> device: what one socket holds now, at most kDrainRounds
    // batches (a queue that other tunnels' traffic keeps full ends there).
    void drain(int raw, TunnelKind kind) { receive(raw, kind, kDrainRounds); }

    // Peer -> device.
    void receive(int raw, TunnelKind kind, int rounds = kRoundsPerWakeup) {
        for (int round = 0; round < rounds; ++round) {
            for (int i = 0; i < kBatch; ++i) {
                auto& m = rx_messages_[i].msg_hdr;
                m.msg_name = &rx_names_[i];
                m.msg_namelen = sizeof(sockaddr_in6);
                m.msg_control = rx_control_[i];
                m.msg_controllen = sizeof rx_control_[i];
                m.msg_flags = 0;
            }
            const int n = ::recvmmsg(raw, rx_messages_, kBatch, MSG_DONTWAIT, nullptr);
            if (n < 0) {
                if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                    bump(rx_errors_);
                return;
            }
            pending_writes_ = 0;
            for (int i = 0; i < n; ++i) deliver(i, kind);
            flush_device_writes();
            if (n < kBatch)
                return;
        }
    }

    void deliver(int i, TunnelKind kind) {
        const msghdr& m = rx_messages_[i].msg_hdr;
        if (m.msg_flags & MSG_TRUNC) {
            bump(rx_malformed_);
            return;
        }
        LookupKey lookup;
        lookup.kind = kind;
        std::memcpy(lookup.peer.data(), &rx_names_[i].sin6_addr, 16);
        std::uint8_t outer_tclass = 0;
        bool have_destination = false;
        for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr;
             c = CMSG_NXTHDR(const_cast<msghdr*>(&m), c)) {
            if (c->cmsg_level != IPPROTO_IPV6)
                continue;
            if (c->cmsg_type == IPV6_PKTINFO) {
                in6_pktinfo info;
                std::memcpy(&info, CMSG_DATA(c), sizeof info);
                std::memcpy(lookup.local.data(), &info.ipi6_addr, 16);
                have_destination = true;
            } else if (c->cmsg_type == IPV6_TCLASS) {
                int value = 0;
                std::memcpy(&value, CMSG_DATA(c), sizeof value);
                outer_tclass = static_cast<std::uint8_t>(value);
            }
        }
        std::span<std::uint8_t> data(rx_slots_.data() + static_cast<std::size_t>(i) * kSlotSize,
                                     rx_messages_[i].msg_len);
        if (kind == TunnelKind::kGre) {
            const auto parsed = tp::parse_gre_header(data);
            const auto* header = std::get_if<tp::GreHeader>(&parsed);
            if (header == nullptr) {
                bump(rx_malformed_);
                return;
            }
            lookup.input_key = header->key;
            data = data.subspan(header->size);
        }
        Tunnel* t = find_tunnel(lookup, have_destination);
        if (t == nullptr) {
            bump(unknown_peer_);
            return;
        }
        if (!t->up.load(std::memory_order_relaxed)) {
            bump(t->counters.drop_not_up);  // prepared ahead of its PBA
            return;
        }
        const auto inner = tp::parse_ipv6_header(data);
        if (!inner) {
            bump(t->counters.drop_malformed);
            return;
        }
        data = data.first(tp::packet_length(*inner));
        const auto tclass = tp::decapsulation_traffic_class(outer_tclass, inner->traffic_class);
        if (!tclass) {
            bump(t->counters.drop_ecn);  // Not-ECT under CE (RFC 6040 section 4.2)
            return;
        }
        if (*tclass != inner->traffic_class)
            tp::set_traffic_class(data, *tclass);
        if (batch_io_) {
            batch_io_->add_write(t->device.get(), data.data(), data.size());
            pending_write_tunnels_[pending_writes_++] = t;
            return;
        }
        if (::write(t->device.get(), data.data(), data.size()) < 0) {
            bump(device_write_errors_);
            return;
        }
        bump(t->counters.rx_packets);
        bump(t->counters.rx_bytes, data.size());
    }

    void drop_batch_io(const Error& error) {
        PMIP_WARNING(kTunnel, "[tunnel data plane]",
                     "io_uring batch failed (" + error.what +
                         "); back to one system call per device read and write");
        batch_io_.reset();
    }

    // Runs the device writes deliver() queued on the io_uring, one system call.
    void flush_device_writes() {
        if (!batch_io_ || pending_writes_ == 0)
            return;
        if (auto status = batch_io_->submit_and_wait(); !status) {
            device_write_errors_.fetch_add(pending_writes_, std::memory_order_relaxed);
            pending_writes_ = 0;
            drop_batch_io(status.error());
            return;
        }
        const auto results = batch_io_->results();
        for (std::size_t i = 0; i < results.size() && i < pending_writes_; ++i) {
            Tunnel* t = pending_write_tunnels_[i];
            if (results[i] < 0) {
                bump(device_write_errors_);
            } else {
                bump(t->counters.rx_packets);
                bump(t->counters.rx_bytes, static_cast<std::uint64_t>(results[i]));
            }
        }
        pending_writes_ = 0;
    }

    Tunnel* find_tunnel(LookupKey& lookup, bool have_destination) {
        if (have_destination) {
            if (auto it = by_lookup_.find(lookup); it != by_lookup_.end())
                return it->second.get();
        }
        lookup.local = Ipv6Address{};  // tunnels created with an unspecified local address
        if (auto it = by_lookup_.find(lookup); it != by_lookup_.end())
            return it->second.get();
        return nullptr;
    }

    // Shared.
    Fd raw_ip6ip6_, raw_gre_, control_, epoll_, command_event_;
    std::mutex commands_mutex_;
    std::deque<Command> commands_;
    std::atomic<std::uint64_t> unknown_peer_{0}, rx_malformed_{0}, rx_errors_{0},
        device_write_errors_{0};

    // Loop thread.
    std::map<TunnelKey, std::shared_ptr<Tunnel>> tunnels_;
    struct Closer {
        std::string name;
        std::thread thread;
        std::shared_ptr<std::atomic<bool>> done;
    };
    std::vector<Closer> closers_;  // devices being unregistered (destroy())
    std::uint64_t next_id_ = kFirstTunnelId;

    // Data-plane thread.
    bool stopping_ = false;
    std::unordered_map<std::uint64_t, std::shared_ptr<Tunnel>> by_id_;
    std::map<LookupKey, std::shared_ptr<Tunnel>> by_lookup_;
    std::vector<std::uint8_t> tx_slots_, rx_slots_;
    mmsghdr tx_messages_[kBatch]{};
    iovec tx_iov_[kBatch]{};
    alignas(cmsghdr) std::uint8_t tx_control_[kBatch][kControlSize]{};
    mmsghdr rx_messages_[kBatch]{};
    iovec rx_iov_[kBatch]{};
    sockaddr_in6 rx_names_[kBatch]{};
    alignas(cmsghdr) std::uint8_t rx_control_[kBatch][128]{};
    std::unique_ptr<BatchIo> batch_io_;  // null: plain read / write
    Tunnel* pending_write_tunnels_[kBatch]{};
    std::size_t pending_writes_ = 0;

    std::thread thread_;  // last: started once everything above exists
};

}  // namespace

Expected<std::unique_ptr<TunnelBackend>> make_userspace_tunnel_backend() {
    {
        Fd tun(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
        if (tun.get() < 0)
            return Error::from_errno("opening /dev/net/tun");
    }
    auto raw_ip6ip6 = open_raw_socket(IPPROTO_IPV6);
    if (!raw_ip6ip6)
        return raw_ip6ip6.error();
    auto raw_gre = open_raw_socket(IPPROTO_GRE);
    if (!raw_gre)
        return raw_gre.error();
    Fd control(::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (control.get() < 0)
        return Error::from_errno("opening the interface control socket");
    Fd epoll(::epoll_create1(EPOLL_CLOEXEC));
    if (epoll.get() < 0)
        return Error::from_errno("creating the tunnel data-plane epoll");
    Fd command_event(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (command_event.get() < 0)
        return Error::from_errno("creating the tunnel command eventfd");
    return std::unique_ptr<TunnelBackend>(std::make_unique<UserspaceTunnelBackend>(
        std::move(*raw_ip6ip6), std::move(*raw_gre), std::move(control), std::move(epoll),
        std::move(command_event)));
}

}  // namespace pmip
