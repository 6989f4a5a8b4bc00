// NetlinkRouteManager: IPv6 routes, IPv6 policy rules and ip6mr rules over
// rtnetlink (NETLINK_ROUTE) with libmnl. Contract in route_manager.hpp;
// RFC 5213 sections 5.6 (LMA: HNP routes into the tunnel) and 6.10 (MAG: HNP
// on-link, source rule + per-LMA table); DESIGN.md sections 2, 3 and 8
// (routes programmed in netlink batches at >= 50,000 PBU/s).
//
// Batching. apply() writes one message per request into a send buffer of at
// most 256 KiB, each with its own sequence number, ends it with a barrier (an
// NLMSG_NOOP with NLM_F_ACK) and hands the whole buffer to one sendmsg.
// rtnetlink processes the messages in order inside that sendmsg (an error in
// one does not stop the next), so when it returns every answer is queued on
// our socket. Requests go without NLM_F_ACK: the kernel answers only the
// failures, each with an NLMSG_ERROR mapped back to its request by sequence
// number, and the barrier's ACK, which comes after all of them, answers "the
// rest succeeded". One recv per chunk instead of one per request is what
// makes 100,000 routes/s possible (DESIGN.md section 8). NETLINK_CAP_ACK keeps
// error answers small and NETLINK_EXT_ACK adds the kernel's reason. The
// requests in flight are bounded by what the receive buffer (8 MiB,
// SO_RCVBUFFORCE when permitted) holds even if every one fails; if answers are
// still dropped (ENOBUFS), the requests of that chunk without an answer are
// sent again, which is safe because every operation is idempotent: routes are
// added with NLM_F_CREATE | NLM_F_REPLACE, rules with NLM_F_CREATE |
// NLM_F_EXCL, EEXIST on add and ENOENT / ESRCH on delete are success.
//
// flush_owned() dumps IPv6 routes of every table and AF_INET6 and
// RTNL_FAMILY_IP6MR rules, keeps those carrying our protocol number, and
// deletes them in one batch.
//
// Threading: loop thread only; synchronous (a batch costs one sendmsg and a
// few recvs per 256 KiB of requests), no threads.
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "pmip/common/raw_socket.hpp"
#include "pmip/common/route_manager.hpp"

namespace pmip {

namespace {

constexpr std::size_t kSendBufferBytes = 256 * 1024;
constexpr std::size_t kReceiveBufferBytes = 256 * 1024;
constexpr int kSocketBufferBytes = 8 * 1024 * 1024;
// Upper bound of one encoded request (a route is ~100 octets).
constexpr std::size_t kMaxRequestBytes = 512;
// What one queued answer costs in the receive buffer (skb truesize of a
// capped NLMSG_ERROR is ~768 octets); bounds the requests in flight.
constexpr std::size_t kAnswerCost = 1024;
constexpr std::size_t kMinInFlight = 1;
// rtnetlink answers inside sendmsg; this only guards against the unexpected.
constexpr int kAnswerTimeoutMs = 1000;
constexpr int kMaxAttempts = 4;
constexpr int kMaxDumpAttempts = 4;
constexpr int kPending = -1;

// RTNL_FAMILY_IP6MR from <linux/rtnetlink.h>; multicast routing tables of
// IPv6 (MRT6_TABLE) are selected by rules of this family.
static_assert(RTNL_FAMILY_IP6MR == 129);

struct Answer {
    int error = kPending;  // errno, 0 = done
    std::string reason;    // the kernel's extended ACK message, if any
    bool retried = false;  // sent again after answers were lost
};

std::string device_name(int ifindex) {
    char name[IF_NAMESIZE] = {};
    if (ifindex > 0 && ::if_indextoname(static_cast<unsigned>(ifindex), name) != nullptr) {
        return name;
    }
    return "ifindex " + std::to_string(ifindex);
}

Error request_error(const RouteRequest& request, int code, const std::string& reason) {
    std::string what = describe(request, device_name) + ": " + std::strerror(code);
    if (!reason.empty())
        what += " (" + reason + ")";
    return Error{code, std::move(what)};
}

bool tolerated(RouteOp op, int error) {
    if (error == 0)
        return true;
    if (op == RouteOp::kAdd)
        return error == EEXIST;
    return error == ENOENT || error == ESRCH;
}

// Checks what the kernel would reject for reasons of ours, before encoding.
const char* invalid(const RouteRequest& request) {
    const auto name_ok = [](const std::string& name) { return name.size() < IFNAMSIZ; };
    if (const auto* route = std::get_if<Route>(&request.object)) {
        if (route->destination.length > 128)
            return "prefix length above 128";
    } else if (const auto* rule = std::get_if<Rule>(&request.object)) {
        if (rule->source.length > 128)
            return "prefix length above 128";
        if (!name_ok(rule->iif))
            return "interface name too long";
    } else {
        const auto& multicast_rule = std::get<MulticastRule>(request.object);
        if (!name_ok(multicast_rule.iif) || !name_ok(multicast_rule.oif)) {
            return "interface name too long";
        }
    }
    return nullptr;
}

nlmsghdr* start_message(void* buffer, std::uint16_t type, std::uint16_t flags) {
    nlmsghdr* nlh = mnl_nlmsg_put_header(buffer);
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = static_cast<std::uint16_t>(NLM_F_REQUEST | NLM_F_ACK | flags);
    return nlh;
}

void encode_route(nlmsghdr* nlh, const Route& route, std::uint8_t protocol) {
    auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
    const Ipv6Prefix destination = canonical(route.destination);
    rtm->rtm_family = AF_INET6;
    rtm->rtm_dst_len = destination.length;
    rtm->rtm_table = route.table < 256 ? static_cast<std::uint8_t>(route.table)
                                       : static_cast<std::uint8_t>(RT_TABLE_UNSPEC);
    rtm->rtm_protocol = protocol;
    rtm->rtm_scope = RT_SCOPE_UNIVERSE;
    switch (route.type) {
        case RouteType::kUnicast: rtm->rtm_type = RTN_UNICAST; break;
        case RouteType::kUnreachable: rtm->rtm_type = RTN_UNREACHABLE; break;
        case RouteType::kThrow: rtm->rtm_type = RTN_THROW; break;
    }
    mnl_attr_put(nlh, RTA_DST, destination.address.size(), destination.address.data());
    if (route.source) {
        const Ipv6Prefix source = canonical(*route.source);
        rtm->rtm_src_len = source.length;
        mnl_attr_put(nlh, RTA_SRC, source.address.size(), source.address.data());
    }
    mnl_attr_put_u32(nlh, RTA_TABLE, route.table);
    if (route.ifindex != 0)
        mnl_attr_put_u32(nlh, RTA_OIF, static_cast<std::uint32_t>(route.ifindex));
    mnl_attr_put_u32(nlh, RTA_PRIORITY, route.metric);
    if (route.gateway)
        mnl_attr_put(nlh, RTA_GATEWAY, route.gateway->size(), route.gateway->data());
}

fib_rule_hdr* put_rule_header(nlmsghdr* nlh, std::uint8_t family, std::uint32_t table) {
    auto* frh = static_cast<fib_rule_hdr*>(mnl_nlmsg_put_extra_header(nlh, sizeof(fib_rule_hdr)));
    frh->family = family;
    frh->action = FR_ACT_TO_TBL;
    frh->table =
        table < 256 ? static_cast<std::uint8_t>(table) : static_cast<std::uint8_t>(RT_TABLE_UNSPEC);
    return frh;
}

void encode_rule(nlmsghdr* nlh, const Rule& rule, std::uint8_t protocol) {
    fib_rule_hdr* frh = put_rule_header(nlh, AF_INET6, rule.table);
    const Ipv6Prefix source = canonical(rule.source);
    frh->src_len = source.length;
    if (source.length > 0)
        mnl_attr_put(nlh, FRA_SRC, source.address.size(), source.address.data());
    mnl_attr_put_u32(nlh, FRA_TABLE, rule.table);
    mnl_attr_put_u32(nlh, FRA_PRIORITY, rule.priority);
    if (!rule.iif.empty())
        mnl_attr_put_strz(nlh, FRA_IFNAME, rule.iif.c_str());
    mnl_attr_put_u8(nlh, FRA_PROTOCOL, protocol);
}

void encode_multicast_rule(nlmsghdr* nlh, const MulticastRule& rule, std::uint8_t protocol) {
    put_rule_header(nlh, RTNL_FAMILY_IP6MR, rule.table);
    mnl_attr_put_u32(nlh, FRA_TABLE, rule.table);
    mnl_attr_put_u32(nlh, FRA_PRIORITY, rule.priority);
    if (!rule.iif.empty())
        mnl_attr_put_strz(nlh, FRA_IFNAME, rule.iif.c_str());
    if (!rule.oif.empty())
        mnl_attr_put_strz(nlh, FRA_OIFNAME, rule.oif.c_str());
    mnl_attr_put_u8(nlh, FRA_PROTOCOL, protocol);
}

// Writes `request` at `buffer` (which has kMaxRequestBytes of room); returns
// its length.
std::size_t encode_request(const RouteRequest& request, std::uint8_t protocol, void* buffer) {
    const bool add = request.op == RouteOp::kAdd;
    nlmsghdr* nlh = nullptr;
    if (const auto* route = std::get_if<Route>(&request.object)) {
        nlh = start_message(buffer, add ? RTM_NEWROUTE : RTM_DELROUTE,
                            add ? NLM_F_CREATE | NLM_F_REPLACE : 0);
        encode_route(nlh, *route, protocol);
    } else if (const auto* rule = std::get_if<Rule>(&request.object)) {
        nlh = start_message(buffer, add ? RTM_NEWRULE : RTM_DELRULE,
                            add ? NLM_F_CREATE | NLM_F_EXCL : 0);
        encode_rule(nlh, *rule, protocol);
    } else {
        nlh = start_message(buffer, add ? RTM_NEWRULE : RTM_DELRULE,
                            add ? NLM_F_CREATE | NLM_F_EXCL : 0);
        encode_multicast_rule(nlh, std::get<MulticastRule>(request.object), protocol);
    }
    return nlh->nlmsg_len;
}

// Attributes after the family header of `nlh`, bounds-checked by libmnl.
template <typename OnAttribute>
void for_each_attribute(const nlmsghdr* nlh, std::size_t header_size, OnAttribute&& on_attribute) {
    const auto* tail = static_cast<const char*>(mnl_nlmsg_get_payload_tail(nlh));
    for (auto* attr = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(nlh, header_size));
         mnl_attr_ok(attr, static_cast<int>(tail - reinterpret_cast<const char*>(attr)));
         attr = mnl_attr_next(attr)) {
        on_attribute(attr);
    }
}

bool get_u32(const nlattr* attr, std::uint32_t& out) {
    if (mnl_attr_get_payload_len(attr) < sizeof(std::uint32_t))
        return false;
    out = mnl_attr_get_u32(attr);
    return true;
}

bool get_address(const nlattr* attr, Ipv6Address& out) {
    if (mnl_attr_get_payload_len(attr) < out.size())
        return false;
    std::memcpy(out.data(), mnl_attr_get_payload(attr), out.size());
    return true;
}

std::string get_name(const nlattr* attr) {
    const auto* text = static_cast<const char*>(mnl_attr_get_payload(attr));
    return std::string(text, strnlen(text, mnl_attr_get_payload_len(attr)));
}

// The request a dumped route or rule corresponds to (for error messages).
RouteRequest request_for(const nlmsghdr* nlh) {
    if (nlh->nlmsg_type == RTM_DELROUTE || nlh->nlmsg_type == RTM_NEWROUTE) {
        const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(nlh));
        Route route;
        route.table = rtm->rtm_table;
        route.metric = 0;
        route.destination.length = rtm->rtm_dst_len;
        if (rtm->rtm_src_len > 0)
            route.source = Ipv6Prefix{Ipv6Address{}, rtm->rtm_src_len};
        for_each_attribute(nlh, sizeof(rtmsg), [&](const nlattr* attr) {
            std::uint32_t value = 0;
            Ipv6Address address{};
            switch (mnl_attr_get_type(attr)) {
                case RTA_DST:
                    get_address(attr, route.destination.address);
                    break;
                case RTA_SRC:
                    if (route.source)
                        get_address(attr, route.source->address);
                    break;
                case RTA_TABLE:
                    get_u32(attr, route.table);
                    break;
                case RTA_OIF:
                    if (get_u32(attr, value))
                        route.ifindex = static_cast<int>(value);
                    break;
                case RTA_PRIORITY:
                    get_u32(attr, route.metric);
                    break;
                case RTA_GATEWAY:
                    if (get_address(attr, address))
                        route.gateway = address;
                    break;
                default:
                    break;
            }
        });
        return {RouteOp::kDelete, route};
    }
    const auto* frh = static_cast<const fib_rule_hdr*>(mnl_nlmsg_get_payload(nlh));
    Rule rule;
    MulticastRule multicast_rule;
    rule.table = multicast_rule.table = frh->table;
    rule.source.length = frh->src_len;
    for_each_attribute(nlh, sizeof(fib_rule_hdr), [&](const nlattr* attr) {
        switch (mnl_attr_get_type(attr)) {
            case FRA_SRC:
                get_address(attr, rule.source.address);
                break;
            case FRA_TABLE:
                get_u32(attr, rule.table);
                multicast_rule.table = rule.table;
                break;
            case FRA_PRIORITY:
                get_u32(attr, rule.priority);
                multicast_rule.priority = rule.priority;
                break;
            case FRA_IFNAME:
                rule.iif = multicast_rule.iif = get_name(attr);
                break;
            case FRA_OIFNAME:
                multicast_rule.oif = get_name(attr);
                break;
            default:
                break;
        }
    });
    if (frh->family == RTNL_FAMILY_IP6MR)
        return {RouteOp::kDelete, multicast_rule};
    return {RouteOp::kDelete, rule};
}

// Route attributes that identify a route for RTM_DELROUTE.
bool kept_in_route_delete(std::uint16_t type) {
    switch (type) {
        case RTA_DST:
        case RTA_SRC:
        case RTA_TABLE:
        case RTA_OIF:
        case RTA_PRIORITY:
        case RTA_GATEWAY:
        case RTA_MULTIPATH:
            return true;
        default:
            return false;
    }
}

class NetlinkRouteManager final : public RouteManager {
  public:
    NetlinkRouteManager(mnl_socket* socket, std::uint8_t protocol)
        : socket_(socket),
          protocol_(protocol),
          send_buffer_(kSendBufferBytes),
          receive_buffer_(kReceiveBufferBytes) {}
    ~NetlinkRouteManager() override { mnl_socket_close(socket_); }
    NetlinkRouteManager(const NetlinkRouteManager&) = delete;
    NetlinkRouteManager& operator=(const NetlinkRouteManager&) = delete;

    Status configure();
    std::vector<Status> apply(std::span<const RouteRequest> batch) override;
    Expected<std::size_t> flush_owned() override;

  private:
    // Sends every item whose answer is still kPending, encoded by
    // `encode(item, buffer)` (at most kMaxRequestBytes), and fills `answers`.
    template <typename Encode>
    void exchange(std::vector<Answer>& answers, Encode&& encode);
    // Sends the first `length` octets of the send buffer, which hold the
    // requests `chunk` numbered from `first_sequence`, and collects answers.
    void send_chunk(const std::vector<std::size_t>& chunk, std::uint32_t first_sequence,
                    std::size_t length, std::vector<Answer>& answers);
    // Dumps `type` for `family`, calling `on_message` for each object; calls
    // `restart` before trying again when the dump was interrupted.
    template <typename OnMessage, typename Restart>
    Status dump(std::uint16_t type, std::uint8_t family, std::size_t header_size,
                OnMessage&& on_message, Restart&& restart);

    int fd() const { return mnl_socket_get_fd(socket_); }
    // After an overrun in which about `answered` answers fitted in the receive
    // buffer: send fewer requests at a time (grown back slowly by clean chunks).
    void shrink_in_flight(std::size_t answered) {
        max_in_flight_ = std::max(kMinInFlight, std::min(max_in_flight_, answered) / 2);
    }

    mnl_socket* socket_;
    std::uint8_t protocol_;
    std::uint32_t next_sequence_ = 1;
    std::size_t send_limit_ = kSendBufferBytes;
    std::size_t max_in_flight_ = kMinInFlight;
    std::size_t in_flight_limit_ = kMinInFlight;  // from the receive buffer size
    std::vector<std::uint8_t> send_buffer_;
    std::vector<std::uint8_t> receive_buffer_;
};

Status NetlinkRouteManager::configure() {
    int one = 1;
    // Both are optional: without them answers are longer and carry no reason.
    mnl_socket_setsockopt(socket_, NETLINK_CAP_ACK, &one, sizeof one);
    mnl_socket_setsockopt(socket_, NETLINK_EXT_ACK, &one, sizeof one);
    const int send_bytes = set_socket_buffer(fd(), false, kSocketBufferBytes);
    const int receive_bytes = set_socket_buffer(fd(), true, kSocketBufferBytes);
    // netlink_sendmsg() refuses a message longer than sk_sndbuf - 32.
    if (send_bytes < static_cast<int>(kMaxRequestBytes) + 64) {
        return Error{ENOBUFS, "route manager: netlink send buffer of " +
                                  std::to_string(send_bytes) + " octets is too small"};
    }
    send_limit_ = std::min(kSendBufferBytes, static_cast<std::size_t>(send_bytes) - 64);
    in_flight_limit_ = max_in_flight_ =
        std::max(kMinInFlight, static_cast<std::size_t>(std::max(receive_bytes, 0)) / kAnswerCost);
    return {};
}

template <typename Encode>
void NetlinkRouteManager::exchange(std::vector<Answer>& answers, Encode&& encode) {
    std::vector<std::size_t> queue;
    queue.reserve(answers.size());
    for (std::size_t i = 0; i < answers.size(); ++i) {
        if (answers[i].error == kPending)
            queue.push_back(i);
    }
    std::vector<std::uint8_t> attempts(answers.size(), 0);
    std::vector<std::size_t> chunk;
    std::size_t next = 0;
    while (next < queue.size()) {
        chunk.clear();
        const std::uint32_t first_sequence = next_sequence_;
        std::size_t length = 0;
        while (next < queue.size() && chunk.size() < max_in_flight_ &&
               length + kMaxRequestBytes + NLMSG_HDRLEN <= send_limit_) {
            const std::size_t item = queue[next++];
            auto* nlh = reinterpret_cast<nlmsghdr*>(send_buffer_.data() + length);
            const std::size_t size = encode(item, static_cast<void*>(nlh));
            nlh->nlmsg_seq = next_sequence_++;
            nlh->nlmsg_pid = 0;
            // Only failures are answered; the barrier below answers for the rest.
            nlh->nlmsg_flags &= static_cast<std::uint16_t>(~NLM_F_ACK);
            length += NLMSG_ALIGN(size);
            chunk.push_back(item);
        }
        // The barrier: a control message that netlink_rcv_skb() acknowledges
        // in turn, after every request before it was handled.
        nlmsghdr* barrier = mnl_nlmsg_put_header(send_buffer_.data() + length);
        barrier->nlmsg_type = NLMSG_NOOP;
        barrier->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
        barrier->nlmsg_seq = next_sequence_++;
        length += NLMSG_ALIGN(barrier->nlmsg_len);

        send_chunk(chunk, first_sequence, length, answers);
        for (const std::size_t item : chunk) {
            if (answers[item].error != kPending)
                continue;
            answers[item].retried = true;
            if (++attempts[item] < kMaxAttempts) {
                queue.push_back(item);  // answer lost: send again (idempotent)
            } else {
                answers[item].error = ETIMEDOUT;
                answers[item].reason = "no answer from the kernel";
            }
        }
    }
}

void NetlinkRouteManager::send_chunk(const std::vector<std::size_t>& chunk,
                                     std::uint32_t first_sequence, std::size_t length,
                                     std::vector<Answer>& answers) {
    if (chunk.empty())
        return;
    if (mnl_socket_sendto(socket_, send_buffer_.data(), length) < 0) {
        const int error = errno;
        for (const std::size_t item : chunk) {
            answers[item].error = error;
            answers[item].reason = "sending to the kernel";
        }
        return;
    }
    bool barrier_answered = false;
    bool overrun = false;
    std::size_t answered = 0;
    while (!barrier_answered) {
        const ssize_t received =
            ::recv(fd(), receive_buffer_.data(), receive_buffer_.size(), MSG_DONTWAIT);
        if (received < 0) {
            if (errno == EINTR)
                continue;
            if (errno == ENOBUFS) {  // answers were dropped; read what is left
                overrun = true;
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (overrun) {
                    shrink_in_flight(answered);
                    return;
                }
                pollfd readable{fd(), POLLIN, 0};
                const int ready = ::poll(&readable, 1, kAnswerTimeoutMs);
                if (ready > 0 || (ready < 0 && errno == EINTR))
                    continue;
                return;
            }
            const int error = errno;
            for (const std::size_t item : chunk) {
                if (answers[item].error == kPending) {
                    answers[item].error = error;
                    answers[item].reason = "reading answers from the kernel";
                }
            }
            return;
        }
        int remaining = static_cast<int>(received);
        for (auto* nlh = reinterpret_cast<const nlmsghdr*>(receive_buffer_.data());
             mnl_nlmsg_ok(nlh, remaining); nlh = mnl_nlmsg_next(nlh, &remaining)) {
            if (nlh->nlmsg_type != NLMSG_ERROR)
                continue;
            if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr)))
                continue;
            const std::uint32_t slot = nlh->nlmsg_seq - first_sequence;
            if (slot == chunk.size()) {
                barrier_answered = true;
                continue;
            }
            if (slot > chunk.size())
                continue;  // a late answer to an earlier chunk
            Answer& answer = answers[chunk[slot]];
            if (answer.error != kPending)
                continue;
            const auto* error = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
            answer.error = -error->error;
            ++answered;
            if (answer.error == 0 || (nlh->nlmsg_flags & NLM_F_ACK_TLVS) == 0)
                continue;
            // Extended ACK attributes follow the (capped) copy of our request.
            std::size_t offset = sizeof(nlmsgerr);
            if ((nlh->nlmsg_flags & NLM_F_CAPPED) == 0) {
                offset += NLMSG_ALIGN(error->msg.nlmsg_len) - sizeof(nlmsghdr);
            }
            for_each_attribute(nlh, offset, [&](const nlattr* attr) {
                if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG)
                    answer.reason = get_name(attr);
            });
        }
    }
    if (overrun) {
        shrink_in_flight(answered);
        return;
    }
    // In order and nothing dropped: whatever got no error succeeded.
    if (chunk.size() == max_in_flight_ && max_in_flight_ < in_flight_limit_) {
        max_in_flight_ = std::min(in_flight_limit_, max_in_flight_ + max_in_flight_ / 8 + 1);
    }
    for (const std::size_t item : chunk) {
        if (answers[item].error == kPending)
            answers[item].error = 0;
    }
}

std::vector<Status> NetlinkRouteManager::apply(std::span<const RouteRequest> batch) {
    std::vector<Answer> answers(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) {
        if (const char* reason = invalid(batch[i]))
            answers[i] = Answer{EINVAL, reason, false};
    }
    exchange(answers, [&](std::size_t item, void* buffer) {
        return encode_request(batch[item], protocol_, buffer);
    });
    std::vector<Status> results;
    results.reserve(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) {
        if (tolerated(batch[i].op, answers[i].error)) {
            results.emplace_back();
        } else {
            results.emplace_back(request_error(batch[i], answers[i].error, answers[i].reason));
        }
    }
    return results;
}

template <typename OnMessage, typename Restart>
Status NetlinkRouteManager::dump(std::uint16_t type, std::uint8_t family, std::size_t header_size,
                                 OnMessage&& on_message, Restart&& restart) {
    const std::string what = std::string("dumping ") + (type == RTM_GETROUTE ? "IPv6 routes"
                                                        : family == AF_INET6 ? "IPv6 rules"
                                                                             : "ip6mr rules");
    for (int attempt = 0; attempt < kMaxDumpAttempts; ++attempt) {
        restart();
        alignas(nlmsghdr) std::uint8_t request[NLMSG_HDRLEN + 64] = {};
        nlmsghdr* nlh = mnl_nlmsg_put_header(request);
        nlh->nlmsg_type = type;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
        nlh->nlmsg_seq = next_sequence_++;
        // rtmsg and fib_rule_hdr both start with the family.
        auto* header = static_cast<std::uint8_t*>(mnl_nlmsg_put_extra_header(nlh, header_size));
        header[0] = family;
        if (mnl_socket_sendto(socket_, nlh, nlh->nlmsg_len) < 0) {
            return Error::from_errno(what);
        }
        bool done = false;
        bool interrupted = false;
        while (!done) {
            pollfd readable{fd(), POLLIN, 0};
            const int ready = ::poll(&readable, 1, kAnswerTimeoutMs * 5);
            if (ready < 0 && errno == EINTR)
                continue;
            if (ready <= 0)
                return Error{ETIMEDOUT, what + ": no answer from the kernel"};
            const ssize_t received =
                ::recv(fd(), receive_buffer_.data(), receive_buffer_.size(), MSG_DONTWAIT);
            if (received < 0) {
                if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                    continue;
                if (errno == ENOBUFS) {  // a stale broadcast overrun, or our dump lost
                    interrupted = true;
                    continue;
                }
                return Error::from_errno(what);
            }
            int remaining = static_cast<int>(received);
            for (auto* message = reinterpret_cast<const nlmsghdr*>(receive_buffer_.data());
                 mnl_nlmsg_ok(message, remaining); message = mnl_nlmsg_next(message, &remaining)) {
                if (message->nlmsg_seq != nlh->nlmsg_seq)
                    continue;
                if ((message->nlmsg_flags & NLM_F_DUMP_INTR) != 0)
                    interrupted = true;
                if (message->nlmsg_type == NLMSG_DONE) {
                    done = true;
                    break;
                }
                if (message->nlmsg_type == NLMSG_ERROR) {
                    const auto* error =
                        static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(message));
                    if (error->error == 0)
                        continue;
                    return Error::from_errno(what, -error->error);
                }
                if (message->nlmsg_len >= NLMSG_LENGTH(header_size))
                    on_message(message);
            }
        }
        if (!interrupted)
            return {};
    }
    return Error{EINTR,
                 what + ": interrupted by changes " + std::to_string(kMaxDumpAttempts) + " times"};
}

Expected<std::size_t> NetlinkRouteManager::flush_owned() {
    // Delete requests, built from the dumps, one after the other in `arena`.
    std::vector<std::uint8_t> arena;
    std::vector<std::pair<std::size_t, std::size_t>> objects;  // offset, length
    std::size_t mark = 0;
    const auto restart = [&] {
        arena.resize(mark);
        objects.erase(std::remove_if(objects.begin(), objects.end(),
                                     [&](const auto& o) { return o.first >= mark; }),
                      objects.end());
    };

    const auto on_route = [&](const nlmsghdr* nlh) {
        const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(nlh));
        if (rtm->rtm_family != AF_INET6 || rtm->rtm_protocol != protocol_)
            return;
        if ((rtm->rtm_flags & RTM_F_CLONED) != 0)
            return;
        const std::size_t offset = arena.size();
        arena.resize(offset + kMaxRequestBytes + nlh->nlmsg_len);
        nlmsghdr* out = start_message(arena.data() + offset, RTM_DELROUTE, 0);
        auto* header = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(out, sizeof(rtmsg)));
        *header = *rtm;
        header->rtm_flags = 0;
        for_each_attribute(nlh, sizeof(rtmsg), [&](const nlattr* attr) {
            if (!kept_in_route_delete(mnl_attr_get_type(attr)))
                return;
            mnl_attr_put(out, mnl_attr_get_type(attr), mnl_attr_get_payload_len(attr),
                         mnl_attr_get_payload(attr));
        });
        arena.resize(offset + NLMSG_ALIGN(out->nlmsg_len));
        objects.emplace_back(offset, out->nlmsg_len);
    };
    const auto on_rule = [&](const nlmsghdr* nlh) {
        bool ours = false;
        for_each_attribute(nlh, sizeof(fib_rule_hdr), [&](const nlattr* attr) {
            if (mnl_attr_get_type(attr) == FRA_PROTOCOL && mnl_attr_get_payload_len(attr) >= 1) {
                ours = mnl_attr_get_u8(attr) == protocol_;
            }
        });
        if (!ours)
            return;
        // The dumped rule, sent back as RTM_DELRULE, names exactly that rule.
        const std::size_t offset = arena.size();
        arena.resize(offset + NLMSG_ALIGN(nlh->nlmsg_len));
        std::memcpy(arena.data() + offset, nlh, nlh->nlmsg_len);
        auto* out = reinterpret_cast<nlmsghdr*>(arena.data() + offset);
        out->nlmsg_type = RTM_DELRULE;
        out->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
        objects.emplace_back(offset, out->nlmsg_len);
    };

    if (Status s = dump(RTM_GETROUTE, AF_INET6, sizeof(rtmsg), on_route, restart); !s) {
        return s.error();
    }
    mark = arena.size();
    if (Status s = dump(RTM_GETRULE, AF_INET6, sizeof(fib_rule_hdr), on_rule, restart); !s) {
        return s.error();
    }
    mark = arena.size();
    if (Status s = dump(RTM_GETRULE, RTNL_FAMILY_IP6MR, sizeof(fib_rule_hdr), on_rule, restart);
        !s) {
        // A kernel without IPv6 multicast routing tables has no ip6mr rules.
        const int code = s.error().code;
        if (code != EAFNOSUPPORT && code != EOPNOTSUPP && code != EINVAL)
            return s.error();
        restart();
    }

    std::vector<Answer> answers(objects.size());
    for (std::size_t i = 0; i < objects.size(); ++i) {
        if (objects[i].second > kMaxRequestBytes)
            answers[i] = Answer{EMSGSIZE, "dumped object too long", false};
    }
    exchange(answers, [&](std::size_t item, void* buffer) {
        std::memcpy(buffer, arena.data() + objects[item].first, objects[item].second);
        return objects[item].second;
    });

    std::size_t removed = 0;
    std::size_t failed = 0;
    std::optional<Error> first_error;
    for (std::size_t i = 0; i < answers.size(); ++i) {
        // A retried delete finding nothing most likely removed it the first time.
        if (answers[i].error == 0 ||
            (answers[i].retried && tolerated(RouteOp::kDelete, answers[i].error))) {
            ++removed;
        } else if (!tolerated(RouteOp::kDelete, answers[i].error)) {
            ++failed;
            if (!first_error) {
                const auto* nlh =
                    reinterpret_cast<const nlmsghdr*>(arena.data() + objects[i].first);
                first_error = request_error(request_for(nlh), answers[i].error, answers[i].reason);
            }
        }
    }
    if (first_error) {
        return Error{first_error->code, "flushing our routes and rules: " + std::to_string(failed) +
                                            " of " + std::to_string(objects.size()) +
                                            " deletions failed, first: " + first_error->what};
    }
    return removed;
}

}  // namespace

Expected<std::unique_ptr<RouteManager>> make_netlink_route_manager(std::uint8_t protocol) {
    mnl_socket* socket = mnl_socket_open(NETLINK_ROUTE);
    if (socket == nullptr)
        return Error::from_errno("route manager: opening NETLINK_ROUTE socket");
    auto manager = std::make_unique<NetlinkRouteManager>(socket, protocol);
    if (mnl_socket_bind(socket, 0, MNL_SOCKET_AUTOPID) < 0) {
        return Error::from_errno("route manager: binding NETLINK_ROUTE socket");
    }
    if (Status s = manager->configure(); !s)
        return s.error();
    return std::unique_ptr<RouteManager>(std::move(manager));
}

}  // namespace pmip
